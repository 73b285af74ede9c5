fn main() {
    println!("facteur {}", env!("CARGO_PKG_VERSION"));
}
