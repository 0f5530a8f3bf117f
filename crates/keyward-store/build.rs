//! The migrations are embedded by `sqlx::migrate!`, which cannot tell cargo that it
//! read them (on stable Rust): a new or edited migration rebuilds the crate through
//! this.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
