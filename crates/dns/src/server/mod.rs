//! The server side: answer DNS queries over UDP and TCP on the loop.
