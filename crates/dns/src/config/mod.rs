//! Resolver configuration: resolv.conf, hosts files, or built in code.
