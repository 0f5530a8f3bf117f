//! People who sign in to the console (issue 14, in progress): their passwords, their
//! sessions' lifetimes, cookies and CSRF tokens, and sign-in throttling. The sign-in
//! routes build on this.

pub mod password;
pub mod session;
pub mod throttle;
