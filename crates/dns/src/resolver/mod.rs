//! The stub resolver: queries on the loop, retries, failover, cache.
