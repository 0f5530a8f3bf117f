//! People who sign in to the console (issue 14, in progress): their passwords. Sessions,
//! one-time password links and the sign-in routes build on this.

pub mod password;
