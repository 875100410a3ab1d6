//! MNIST (and anything shipped in its four IDX files: Fashion-MNIST, KMNIST, EMNIST digits).

use std::path::{Path, PathBuf};

use crate::idx::read_idx_u8;
use crate::{DataError, ImageDataset};

/// The training and test sets of an MNIST-style directory.
#[derive(Clone, Debug)]
pub struct Mnist {
    /// 60,000 training images for MNIST.
    pub train: ImageDataset,
    /// 10,000 test images for MNIST.
    pub test: ImageDataset,
}

/// Digits 0 to 9.
pub const MNIST_CLASSES: usize = 10;

/// Where Debian's `dataset-fashion-mnist` package installs Fashion-MNIST (Xiao et al., 2017):
/// `Mnist::load(FASHION_MNIST_DEBIAN_DIR)` reads it, as it reads any directory of the four
/// MNIST file names (KMNIST, EMNIST digits).
pub const FASHION_MNIST_DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Fashion-MNIST's ten classes, by label.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

impl Mnist {
    /// Loads `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`
    /// and `t10k-labels-idx1-ubyte` from `dir`, each gzip'd (`.gz`) or raw, also under the
    /// dotted names (`train-images.idx3-ubyte`) some mirrors use.
    ///
    /// # Errors
    /// [`DataError`] naming the file that is missing, truncated, corrupt or inconsistent.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, DataError> {
        let dir = dir.as_ref();
        Ok(Self { train: Self::load_train(dir)?, test: Self::load_test(dir)? })
    }

    /// The training set of `dir` alone (`train-images-idx3-ubyte` and
    /// `train-labels-idx1-ubyte`, under the names [`Mnist::load`] accepts): the test files
    /// are not opened, so that nothing can look at them before training is done.
    ///
    /// # Errors
    /// As [`Mnist::load`], for the two training files.
    pub fn load_train(dir: impl AsRef<Path>) -> Result<ImageDataset, DataError> {
        load_split(dir.as_ref(), "train")
    }

    /// The test set of `dir` alone (`t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`),
    /// for measuring a trained model once.
    ///
    /// # Errors
    /// As [`Mnist::load`], for the two test files.
    pub fn load_test(dir: impl AsRef<Path>) -> Result<ImageDataset, DataError> {
        load_split(dir.as_ref(), "t10k")
    }

    /// Fashion-MNIST from where Debian's `dataset-fashion-mnist` package installs it
    /// ([`FASHION_MNIST_DEBIAN_DIR`]); for another directory, use [`Mnist::load`].
    ///
    /// # Errors
    /// As [`Mnist::load`]; [`DataError::Missing`] names the files when the package is not
    /// installed (`apt-get install dataset-fashion-mnist`).
    pub fn fashion() -> Result<Self, DataError> {
        Self::load(FASHION_MNIST_DEBIAN_DIR)
    }
}

/// The first twelve training labels of each set [`Mnist::known_name`] recognises.
const FINGERPRINTS: [(&str, [u8; 12]); 2] = [
    ("mnist", [5, 0, 4, 1, 9, 2, 1, 3, 1, 4, 3, 5]),
    ("fashion-mnist", [9, 0, 0, 3, 0, 2, 7, 2, 5, 5, 0, 9]),
];

impl Mnist {
    /// `"mnist"` or `"fashion-mnist"` when the training labels start as those sets' do (each
    /// set's files are the same everywhere, so their first labels tell them apart whatever
    /// the directory is called); `None` for any other set (KMNIST, EMNIST digits, a subset).
    pub fn known_name(&self) -> Option<&'static str> {
        Self::recognise(&self.train)
    }

    /// [`Mnist::known_name`] from the training set alone (loaded with [`Mnist::load_train`]).
    pub fn recognise(train: &ImageDataset) -> Option<&'static str> {
        let labels = train.labels();
        FINGERPRINTS.iter().find(|(_, start)| labels.starts_with(start)).map(|&(name, _)| name)
    }

    /// The class names of a set [`Mnist::recognise`] named (`"mnist"`, `"fashion-mnist"`).
    pub fn class_names_of(name: &str) -> Option<Vec<String>> {
        match name {
            "fashion-mnist" => Some(FASHION_MNIST_CLASSES.iter().map(|name| name.to_string()).collect()),
            "mnist" => Some((0..MNIST_CLASSES).map(|digit| digit.to_string()).collect()),
            _ => None,
        }
    }

    /// The names of the classes of a set [`Mnist::known_name`] recognises, by label: the
    /// digits `"0"` to `"9"` for MNIST, [`FASHION_MNIST_CLASSES`] for Fashion-MNIST.
    pub fn class_names(&self) -> Option<Vec<String>> {
        Self::class_names_of(self.known_name()?)
    }
}

/// Finds `stem` (e.g. `train-images-idx3-ubyte`) in `dir` under its usual spellings.
pub fn find_idx_file(dir: &Path, stem: &str) -> Result<PathBuf, DataError> {
    let dotted = stem.replacen("-idx", ".idx", 1);
    let names = [format!("{stem}.gz"), stem.to_string(), format!("{dotted}.gz"), dotted];
    names
        .iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file())
        .ok_or_else(|| DataError::Missing { path: dir.join(&names[0]), tried: names.to_vec() })
}

fn load_split(dir: &Path, prefix: &str) -> Result<ImageDataset, DataError> {
    let images_path = find_idx_file(dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let labels_path = find_idx_file(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    let images = read_idx_u8(&images_path, 3)?;
    let labels = read_idx_u8(&labels_path, 1)?;
    let (count, features) = (images.dims[0], images.dims[1] * images.dims[2]);
    if count != labels.dims[0] {
        return Err(DataError::CountMismatch {
            images: images_path,
            image_count: count,
            labels: labels_path,
            label_count: labels.dims[0],
        });
    }
    if let Some((index, &label)) = labels.data.iter().enumerate().find(|&(_, &l)| l as usize >= MNIST_CLASSES)
    {
        return Err(DataError::LabelOutOfRange {
            path: labels_path,
            index,
            label: label as usize,
            classes: MNIST_CLASSES,
        });
    }
    Ok(ImageDataset::new(images.data, labels.data, features, MNIST_CLASSES))
}
