//! The lesson's notebook, retold with percept.
//!
//! ```text
//! cargo run --release --example lesson
//! ```
//!
//! 1. A 2-D data set of 100 points with label noise, the first 80 for training, the last 20
//!    for testing.
//! 2. One linear layer, softmax and cross-entropy, trained for one epoch of minibatch SGD
//!    (batch 4, learning rate 0.1), written out step by step as the lesson does.
//! 3. The same as a `Sequential` network (the lesson's `Net`), with loss and accuracy before
//!    and after an epoch.
//! 4. A hidden layer: `Linear(2,10)`-`Tanh`-`Linear(10,2)`-`Softmax`, 30 epochs.
//!
//! The lesson's numbers come from numpy's random stream; ours differ in detail, not in kind.

use clap::Parser;
use percept::linalg::Matrix;
use percept::prelude::*;

/// The lesson's notebook retold with percept: a linear classifier written out step by step,
/// the same as a `Sequential`, then a hidden layer. Takes no options.
#[derive(Parser)]
struct Args {}

/// The lesson's `train_epoch`: batches in order, forward, loss, backward, update.
fn train_epoch(
    net: &mut Sequential,
    data: &InMemoryDataset,
    optimizer: &mut Optimizer<Sgd>,
    batch_size: usize,
) -> Result<(), NnError> {
    let mut loss = CrossEntropy;
    let (mut inputs, mut labels, mut grad) = (Matrix::default(), Labels::default(), Matrix::default());
    for batch in BatchOrder::sequential(data.len(), batch_size).next_epoch() {
        data.gather(batch, &mut inputs, &mut labels);
        let Labels::Classes(classes) = &labels else { unreachable!("the lesson's data has classes") };
        let probabilities = net.forward(&inputs, Mode::Train)?; // p = softmax(x Wᵀ + b)
        loss.backward(probabilities, Targets::Classes(classes), &mut grad)?; // ∂L/∂p
        net.backward(&grad)?; // ∂L/∂W and ∂L/∂b, by the chain rule
        optimizer.step(net); // W ← W − lr · ∂L/∂W
    }
    Ok(())
}

/// The lesson's `get_loss_acc`.
fn loss_and_accuracy(net: &mut Sequential, data: &InMemoryDataset) -> Result<(f32, f32), TrainError> {
    let result = evaluate(net, &mut CrossEntropy, data, data.len())?;
    Ok((result.loss, result.accuracy.expect("classification data")))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    Args::parse();
    // 1. The data: make_classification(n_samples=100, n_features=2, flip_y=0.2), 80/20.
    let data =
        make_classification(&Classification { samples: 100, flip_y: 0.2, seed: 0, ..Default::default() });
    let (train, test) = data.split(0.8);
    println!("data: {} training and {} test points, 2 features, 2 classes", train.len(), test.len());

    // 2. One linear layer and softmax: f(x) = softmax(W x + b).
    let mut rng = seeded_rng(0);
    let mut net = Sequential::new();
    net.add(Linear::lesson(2, 2, &mut rng))?.add(Softmax)?;
    let (_, before) = loss_and_accuracy(&mut net, &train)?;
    train_epoch(&mut net, &train, &mut Optimizer::new(Sgd::new(0.1)), 4)?;
    let (_, after) = loss_and_accuracy(&mut net, &train)?;
    println!("\nLinear(2,2) + Softmax, one epoch of SGD (batch 4, lr 0.1):");
    println!("  training accuracy {before:.3} before, {after:.3} after");

    // 3. The same network again, watching the loss too.
    let mut net = Sequential::new();
    net.add(Linear::lesson(2, 2, &mut rng))?.add(Softmax)?;
    println!("\n{net}");
    let (loss_before, acc_before) = loss_and_accuracy(&mut net, &train)?;
    train_epoch(&mut net, &train, &mut Optimizer::new(Sgd::new(0.1)), 4)?;
    let (loss_after, acc_after) = loss_and_accuracy(&mut net, &train)?;
    let (test_loss, test_acc) = loss_and_accuracy(&mut net, &test)?;
    println!(
        "  training loss {loss_before:.3} -> {loss_after:.3}, accuracy {acc_before:.3} -> {acc_after:.3}"
    );
    println!("  test loss {test_loss:.3}, accuracy {test_acc:.3}");

    // 4. A hidden layer with Tanh: the network can now bend its decision boundary.
    let mut net = Sequential::new();
    net.add(Linear::lesson(2, 10, &mut rng))?
        .add(Tanh)?
        .add(Linear::lesson(10, 2, &mut rng))?
        .add(Softmax)?;
    println!("\n{net}");
    let config =
        FitConfig { epochs: 30, batch_size: 4, shuffle: false, verbose: false, ..Default::default() };
    let mut trainer = Trainer::new(config);
    trainer.on_epoch(|r| {
        if r.epoch % 5 == 0 {
            println!(
                "  epoch {:>2}: training accuracy {:.3}, test accuracy {:.3}",
                r.epoch,
                r.train_accuracy.unwrap_or(f32::NAN),
                r.validation_accuracy.unwrap_or(f32::NAN)
            );
        }
    });
    trainer.fit(&mut net, &mut CrossEntropy, &mut Optimizer::new(Sgd::new(0.01)), &train, Some(&test))?;
    let (_, final_train) = loss_and_accuracy(&mut net, &train)?;
    let (_, final_test) = loss_and_accuracy(&mut net, &test)?;
    println!("  after 30 epochs: training accuracy {final_train:.3}, test accuracy {final_test:.3}");
    Ok(())
}
