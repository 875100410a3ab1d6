"""Tests of the performance matrix's arithmetic and report on made-up results (no training runs):

    python3 -m unittest discover -s benches/peers -p 'test_*.py'
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import matrix  # noqa: E402


def final(epoch_seconds, images_per_s, rss, accuracy=0.9):
    return {"final": True, "median_epoch_seconds": epoch_seconds, "infer_images_per_s": images_per_s,
            "peak_rss_mib": rss, "final_test_acc": accuracy}


class Arithmetic(unittest.TestCase):
    def test_multiply_adds_of_a_training_step(self):
        # 784-1024-1024-10 by hand: layers 802,816 + 1,048,576 + 10,240 = 1,861,632 multiply-adds;
        # forward and weight gradient of all three, input gradient of the last two
        # (1,048,576 + 10,240): 2 · 1,861,632 + 1,058,816 = 4,782,080 per sample.
        self.assertEqual(matrix.training_muladds_per_sample([784, 1024, 1024, 10]), 4_782_080)
        # One layer: no input gradient at all.
        self.assertEqual(matrix.training_muladds_per_sample([784, 10]), 2 * 7840)

    def test_ratios_are_medians_of_per_run_ratios_and_skip_failed_runs(self):
        runs = {
            "percept": [final(1.0, 300.0, 50.0), final(3.0, 100.0, 60.0), None],
            "torch": [final(2.0, 100.0, 900.0), final(4.0, 100.0, 1000.0), final(5.0, 100.0, 900.0)],
        }
        cell = matrix.summarize(runs, muladds=10e9, peak=5e9)
        self.assertEqual(cell["medians"]["percept"]["median_epoch_seconds"], 2.0)
        # Per-run ratios 0.5 and 0.75 (run 3 failed): median 0.625, not 2.0 / 4.0.
        self.assertAlmostEqual(cell["ratios"]["percept"]["median_epoch_seconds"], 0.625)
        self.assertAlmostEqual(cell["ratios"]["percept"]["infer_images_per_s"], 2.0)
        self.assertAlmostEqual(cell["floor_seconds"], 2.0)
        self.assertAlmostEqual(cell["percept_over_floor"], 1.0)

    def test_without_pytorch_there_are_no_ratios(self):
        cell = matrix.summarize({"percept": [final(1.0, 300.0, 50.0)]}, muladds=1e9, peak=None)
        self.assertEqual(cell["ratios"], {})
        self.assertIsNone(cell["floor_seconds"])
        lines = matrix.tables([{"row": "r", "name": "small", "threads": 1, "cell": cell}], ["percept"])
        self.assertFalse(any("/torch" in line for line in lines))


class Targets(unittest.TestCase):
    def result(self, name, threads, percept, torch, peak=None, muladds=1e9):
        cell = matrix.summarize({"percept": [percept], "torch": [torch]}, muladds, peak)
        return {"row": name, "name": name, "threads": threads, "cell": cell}

    def test_verdicts_follow_the_numbers(self):
        results = [
            # Epoch 0.2x and inference 2x PyTorch, 40 MiB: every general target met...
            self.result("small", 1, final(0.2, 200.0, 40.0), final(1.0, 100.0, 900.0)),
            # ...here the epoch is 0.7x (not met), inference 1.2x (not met), 200 MiB (not met).
            self.result("fashion-1024", 1, final(7.0, 120.0, 200.0), final(10.0, 100.0, 900.0),
                        peak=1e9, muladds=5e9),
        ]
        checks = {what: (value, met) for what, value, _, met in matrix.targets(results)}
        self.assertEqual(checks["small at 1 thread(s): percept / PyTorch epoch"], (0.2, True))
        self.assertEqual(checks["small at 1 thread(s): percept / PyTorch inference"], (2.0, True))
        self.assertEqual(checks["small at 1 thread(s): percept peak RSS MiB"], (40.0, True))
        self.assertFalse(checks["fashion-1024 at 1 thread(s): percept / PyTorch epoch"][1])
        self.assertFalse(checks["fashion-1024 at 1 thread(s): percept / PyTorch inference"][1])
        self.assertFalse(checks["fashion-1024 at 1 thread(s): percept peak RSS MiB"][1])
        # 7 s against a floor of 5 s: 1.4x, over 1.15x.
        value, met = checks["fashion-1024 at 1 thread: percept epoch / FMA floor"]
        self.assertAlmostEqual(value, 1.4)
        self.assertFalse(met)
        text = "\n".join(matrix.target_lines(matrix.targets(results)))
        self.assertIn("small at 1 thread(s): percept / PyTorch epoch: 0.200 (target ≤ 0.6): met", text)
        self.assertIn("fashion-1024 at 1 thread(s): percept peak RSS MiB: 200.000 (target ≤ 150): NOT met",
                      text)

    def test_a_missing_figure_is_neither_met_nor_failed(self):
        results = [self.result("small", 2, final(0.2, 200.0, 40.0), None)]
        checks = matrix.targets(results)
        epoch = next(c for c in checks if c[0] == "small at 2 thread(s): percept / PyTorch epoch")
        self.assertIsNone(epoch[3])
        self.assertIn("no figure", "\n".join(matrix.target_lines(checks)))


if __name__ == "__main__":
    unittest.main()
