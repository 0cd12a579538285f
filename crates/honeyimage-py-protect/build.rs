// The engine links the libtorch inside the `torch` package installed beside
// it (site-packages/torch/lib); `honeyimage` imports torch first, which
// loads those libraries, and this rpath finds them without it too.
fn main() {
    println!("cargo:rustc-link-arg=-Wl,-rpath,$ORIGIN/../torch/lib");
}
