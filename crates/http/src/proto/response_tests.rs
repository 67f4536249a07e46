//! The response head rules, one test per rule.
