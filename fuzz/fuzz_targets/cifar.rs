//! CIFAR-10 / CIFAR-100 binary batch reader: `DataSource::open(dir)` +
//! `load(split)`. Input: flags byte, a u16-length-prefixed class-names text,
//! a u16-length-prefixed test batch, then the train batch. Flags: bit 0
//! CIFAR-100 layout (`train.bin`, `test.bin`, `fine_label_names.txt`) rather
//! than CIFAR-10 (`data_batch_N.bin`, `test_batch.bin`, `batches.meta.txt`),
//! bit 1 write the class-names file, bit 2 write the test batch, bit 3
//! (CIFAR-10) also write the train batch again as `data_batch_2.bin`.
#![no_main]
use honeyimage_fuzz::{fresh_dir, open_and_load, put, Input};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut inp = Input::new(data);
    let flags = inp.byte();
    let names = inp.piece();
    let test = inp.piece();
    let train = inp.rest();
    let dir = fresh_dir("cifar");
    let hundred = flags & 1 != 0;
    let (tr, te, meta) = if hundred {
        ("train.bin", "test.bin", "fine_label_names.txt")
    } else {
        ("data_batch_1.bin", "test_batch.bin", "batches.meta.txt")
    };
    put(&dir.join(tr), train);
    if flags & 2 != 0 {
        put(&dir.join(meta), names);
    }
    if flags & 4 != 0 {
        put(&dir.join(te), test);
    }
    if flags & 8 != 0 && !hundred {
        put(&dir.join("data_batch_2.bin"), train);
    }
    open_and_load(&dir);
});
