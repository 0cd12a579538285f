include!("../../build-support/torch_rpath.rs");
