"""The package against the example model servers behind sidecars built
from this checkout: sklearn_server.py (predict.v1, breast cancer),
http_server.py (KServe v1 over HTTP, sentiment) and kserve_server.py
(KServe v2, the digits CNN). Skipped (not failed) when
the servers' packages or Go are missing, unless CI is set."""

import os
import shutil
import signal
import threading
import time
import unittest

import numpy as np

from explainer_client import BatchExplanation, ExplainError, Explainer, Explanation
import explainer_client._client as client_mod

from servers import Servers, wait_serving

SERVERS = None
TABULAR = TEXT = IMAGE = None


def missing():
    try:
        import sklearn  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        return "scikit-learn or torch is missing"
    if not os.environ.get("EXPLAINER_BIN") and shutil.which("go") is None:
        return "go is missing (or set EXPLAINER_BIN)"
    return None


def setUpModule():
    global SERVERS, TABULAR, TEXT, IMAGE
    why = missing()
    if why:
        if os.environ.get("CI"):
            raise RuntimeError(why)
        raise unittest.SkipTest(why)
    SERVERS = Servers()
    try:
        binary = SERVERS.binary()
        sk = SERVERS.model_server("sklearn_server.py")
        http = SERVERS.model_server("http_server.py")
        TABULAR = SERVERS.sidecar(binary, sk, "predict-v1", "breast_cancer")
        TEXT = SERVERS.sidecar(binary, f"http://{http}", "kserve-v1-http", "sentiment", plaintext=False)
        images = SERVERS.model_server("kserve_server.py")
        IMAGE = SERVERS.sidecar(binary, images, "kserve-v2", "digits_cnn")
        wait_serving(TABULAR)
        wait_serving(TEXT)
        wait_serving(IMAGE)
    except BaseException:
        SERVERS.stop()
        raise


def tearDownModule():
    if SERVERS:
        SERVERS.stop()


def breast_cancer():
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer()
    return d.data, d.target, [str(n) for n in d.feature_names]


class TabularTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.X, cls.y, cls.names = breast_cancer()
        cls.ex = Explainer(TABULAR, timeout=120)

    @classmethod
    def tearDownClass(cls):
        cls.ex.close()

    def test_lime(self):
        seen = []
        e = self.ex.lime(self.X[0], training=self.X, feature_names=self.names, seed=7,
                         num_samples=2000, num_features=5, progress=seen.append)
        self.assertIsInstance(e, Explanation)
        self.assertEqual(e.method, "lime")
        self.assertEqual(e.seed, 7)
        le = e.label()
        self.assertEqual((le.label, le.class_name), (0, "malignant"))
        self.assertEqual(len(le.attributions), 5)
        weights = [abs(a.weight) for a in le.attributions]
        self.assertEqual(weights, sorted(weights, reverse=True))
        self.assertTrue(all(a.feature for a in le.attributions))
        self.assertTrue(any(a.std_error > 0 for a in le.attributions))
        self.assertTrue(seen, "no progress event reached the callback")
        self.assertLessEqual(seen[-1].samples_scored, seen[-1].samples_total)
        # the same seed gives the same result
        again = self.ex.lime(self.X[0], training=self.X, feature_names=self.names, seed=7,
                             num_samples=2000, num_features=5)
        self.assertEqual(again.label().as_dict(), le.as_dict())

    def test_kernel_shap_sums_to_model_value(self):
        rng = np.random.default_rng(0)
        background = self.X[rng.choice(len(self.X), 20, replace=False)]
        e = self.ex.kernel_shap(self.X[0], background=background, feature_names=self.names,
                                num_samples=600, seed=1)
        le = e.label()
        self.assertEqual(len(le.attributions), 30)
        total = sum(a.weight for a in le.attributions)
        self.assertAlmostEqual(total, le.model_value - le.base_value, places=6)

    def test_permutation(self):
        e = self.ex.permutation(self.X, target=self.y, feature_names=self.names, repeats=2, seed=3)
        self.assertEqual(e.method, "permutation")
        self.assertEqual(e.scoring, "accuracy")
        self.assertGreater(e.baseline_score, 0.95)
        self.assertEqual(len(e.label().attributions), 30)
        self.assertEqual(len(e.label().attributions[0].values), 2)

    def test_permutation_streamed(self):
        old = client_mod.STREAM_VALUES
        client_mod.STREAM_VALUES = 1000  # stream the 17070 values in chunks
        try:
            streamed = self.ex.permutation(self.X, target=self.y, repeats=2, seed=3)
        finally:
            client_mod.STREAM_VALUES = old
        inline = self.ex.permutation(self.X, target=self.y, repeats=2, seed=3)
        self.assertEqual(streamed.baseline_score, inline.baseline_score)
        self.assertEqual(streamed.label().as_dict(), inline.label().as_dict())

    def test_batch(self):
        seen = []
        b = self.ex.lime(self.X[:3], training=self.X, feature_names=self.names, seed=7,
                         num_samples=1000, num_features=4, progress=seen.append)
        self.assertIsInstance(b, BatchExplanation)
        self.assertEqual(len(b), 3)
        self.assertEqual([x.index for x in b], [0, 1, 2])
        self.assertTrue(b.label_picked)
        self.assertTrue(b.summaries and b.summaries[0].features)
        self.assertEqual(len(b.to_records()), 3 * 4)
        # instance i is explained as a single request with seed 7 + i
        one = self.ex.lime(self.X[1], training=self.X, feature_names=self.names, seed=8,
                           num_samples=1000, num_features=4, labels=[b.label])
        self.assertEqual(one.label().as_dict(), b[1].label().as_dict())

    def test_keyboard_interrupt_cancels_the_job(self):
        calls = []

        def interrupt(p):
            calls.append(p)
            raise KeyboardInterrupt

        start = time.monotonic()
        with self.assertLogs("explainer_client", "INFO") as logs:
            with self.assertRaises(KeyboardInterrupt):
                self.ex.kernel_shap(self.X[0], background=self.X[:100], num_samples=6000, seed=1,
                                    progress=interrupt)
        self.assertLess(time.monotonic() - start, 15)  # the log line below proves the sidecar answered
        self.assertEqual(len(calls), 1)
        self.assertIn("cancelled on the sidecar (CANCELLED", logs.output[0])
        # the client still works
        e = self.ex.lime(self.X[0], training=self.X, num_samples=500, seed=1)
        self.assertTrue(e.labels)

    def test_ctrl_c_cancels_the_job(self):
        # A real SIGINT while the caller waits for events, as Ctrl-C sends it.
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
        start = time.monotonic()
        with self.assertLogs("explainer_client", "INFO") as logs:
            with self.assertRaises(KeyboardInterrupt):
                timer.start()
                self.ex.kernel_shap(self.X[0], background=self.X[:100], num_samples=6000, seed=2)
        timer.join()
        self.assertLess(time.monotonic() - start, 15)
        self.assertIn("cancelled on the sidecar (CANCELLED", logs.output[0])

    def test_pandas(self):
        """DataFrames in (columns name the features, target= names a column)
        and to_frame out, with the real pandas (installed in CI); the numbers
        are those of the same request made with arrays."""
        try:
            import pandas as pd
        except ImportError:
            if os.environ.get("CI"):
                raise
            self.skipTest("pandas is missing")
        df = pd.DataFrame(self.X, columns=self.names)
        e = self.ex.lime(df.iloc[0], training=df, seed=7, num_samples=1000, num_features=4)
        arrays = self.ex.lime(self.X[0], training=self.X, feature_names=self.names, seed=7,
                              num_samples=1000, num_features=4)
        self.assertEqual(e.label().as_dict(), arrays.label().as_dict())
        frame = e.to_frame()
        self.assertIsInstance(frame, pd.DataFrame)
        self.assertEqual(list(frame.columns), ["label", "class_name", "feature", "index", "weight", "std_error", "std"])
        self.assertEqual(frame["weight"].tolist(), [a.weight for a in e.label().attributions])
        self.assertTrue(set(frame["class_name"]) <= {"malignant", "benign"})

        with_target = df.assign(target=self.y)
        imp = self.ex.permutation(with_target, target="target", repeats=2, seed=3)
        self.assertEqual(imp.label().as_dict(),
                         self.ex.permutation(self.X, target=self.y, feature_names=self.names,
                                             repeats=2, seed=3).label().as_dict())
        self.assertNotIn("target", [a.feature for a in imp.label().attributions])

        b = self.ex.lime(df.iloc[:2], training=df, seed=7, num_samples=500, num_features=3)
        bf = b.to_frame()
        self.assertEqual(sorted(set(bf["instance"])), [0, 1])
        self.assertEqual(len(bf), 2 * 3)

    def test_anchors(self):
        """An anchor of a row, sampled from the training rows: the model's
        class, a rule whose precision met the threshold."""
        e = self.ex.anchors(self.X[0], training=self.X, feature_names=self.names, seed=1,
                            coverage_samples=1000)
        le = e.label()
        self.assertEqual(e.method, "anchors")
        self.assertEqual(le.label, 0)  # row 0 is malignant
        a = le.anchor
        self.assertTrue(a.predicates and a.threshold_met and a.precision >= 0.95, a)
        self.assertEqual(len(a.predicates), len(a.features))
        self.assertTrue(str(a).startswith("IF "), str(a))

    def test_counterfactual(self):
        """Counterfactuals of row 0 in the other class, mean radius kept, a
        range held: each valid, the immutable feature unchanged."""
        e = self.ex.counterfactual(self.X[0], self.X, feature_names=self.names, min_probability=0.6, count=2,
                                   immutable=["mean radius"], ranges={"worst texture": (10, 40)}, seed=3,
                                   population=64)
        self.assertTrue(e.counterfactuals)
        wt = self.names.index("worst texture")
        for c in e.counterfactuals:
            self.assertTrue(c.valid and c.label == 1 and c.scores[1] >= 0.6, c)
            self.assertEqual(c.values[0], self.X[0][0])
            self.assertTrue(10 <= c.values[wt] <= 40)
            self.assertEqual(c.sparsity, len(c.changes))
            self.assertNotIn("mean radius", [ch.feature for ch in c.changes])

    def test_partial_dependence_and_ale(self):
        pd = self.ex.partial_dependence(self.X, ["worst radius", ("mean texture", "worst area")], feature_names=self.names,
                                        grid_resolution=5, kind="both", labels=[1])
        curves = pd.label(1).partial_dependence
        self.assertEqual([c.feature for c in curves], ["worst radius", "mean texture"])
        self.assertEqual(curves[1].second_feature, "worst area")
        self.assertIsNone(curves[0].second_feature_index)
        self.assertEqual(len(curves[0].individual), len(self.X))
        self.assertEqual(len(curves[0].average), len(curves[0].grid))
        ale = self.ex.ale(self.X, ["worst radius"], feature_names=self.names, bins=5, labels=[1])
        c = ale.label(1).ale[0]
        self.assertEqual(c.feature, "worst radius")
        self.assertEqual(len(c.edges), len(c.effects))
        self.assertEqual(sum(c.bin_counts), len(self.X))

    def test_errors(self):
        with self.assertRaises(ExplainError) as cm:
            self.ex.lime(self.X[0][:5], training=self.X[:, :5], num_samples=100)
        self.assertEqual(cm.exception.code.name, "INVALID_ARGUMENT")
        self.assertTrue(cm.exception.message)


class TextTest(unittest.TestCase):
    def test_lime_text(self):
        with Explainer(TEXT, timeout=120) as ex:
            e = ex.lime_text("terrible service and awful food", num_samples=500, seed=7, model="sentiment")
            words = [a.feature for a in e.label().attributions[:3]]
            self.assertTrue({"awful", "terrible"} & set(words), words)
            b = ex.lime_text(["the food was wonderful", "awful food"], num_samples=300, seed=7)
            self.assertEqual(len(b), 2)

    def test_anchors_text(self):
        with Explainer(TEXT, timeout=120) as ex:
            e = ex.anchors("terrible service and awful food", seed=1)
            a = e.label().anchor
            self.assertTrue(a.threshold_met and set(a.predicates) & {"terrible", "awful"}, a)

    def test_skip_failed(self):
        """A text without words is left out of a batch with skip_failed, its
        error in failures; without it the batch fails."""
        texts = ["the food was wonderful", "?!", "awful food"]
        with Explainer(TEXT, timeout=120) as ex:
            with self.assertRaises(ExplainError) as cm:
                ex.lime_text(texts, num_samples=200, seed=7)
            self.assertEqual(cm.exception.code.name, "INVALID_ARGUMENT")
            b = ex.lime_text(texts, num_samples=200, seed=7, skip_failed=True)
            self.assertEqual([x.index for x in b], [0, 2])
            self.assertEqual([(f.index, f.code) for f in b.failures], [(1, "INVALID_ARGUMENT")])
            self.assertIn("has no words", b.failures[0].message)


class ImageTest(unittest.TestCase):
    """An 8×8 digit (pixels / 16) on the digits CNN: LIME per segment of a
    4×4 grid, occlusion as a map, and a batch of two digits."""

    @classmethod
    def setUpClass(cls):
        from sklearn.datasets import load_digits

        d = load_digits()
        cls.images, cls.targets = d.images / 16.0, d.target
        cls.ex = Explainer(IMAGE, timeout=120)

    @classmethod
    def tearDownClass(cls):
        cls.ex.close()

    def test_lime_image(self):
        img = self.images[0]
        e = self.ex.lime_image(img, segmentation={"grid": {"rows": 4, "cols": 4}}, fill={"kind": "constant"},
                               num_samples=300, seed=7)
        self.assertEqual(e.label().label, self.targets[0])  # the model's prediction, a 0
        self.assertEqual(len(e.label().attributions), 16)
        self.assertEqual(e.segments.shape, (8, 8))
        self.assertEqual(sorted(set(e.segments.ravel().tolist())), list(range(16)))
        b = self.ex.lime_image([self.images[0], self.images[1]], segmentation={"grid": {"rows": 2, "cols": 2}},
                               num_samples=200, seed=7)
        self.assertEqual([x.index for x in b], [0, 1])

    def test_occlusion(self):
        img = self.images[0]
        e = self.ex.occlusion(img, window=(2, 2), strides=(1, 1))
        label = e.labels[0].label if e.labels else next(iter(e.maps))
        m = e.maps[label]
        self.assertEqual(m.shape, (8, 8))
        # Occluding ink lowers the digit's score more than occluding the
        # blank border: more attribution on the ink.
        ink = img > 0
        self.assertGreater(m[ink].mean(), np.abs(m[~ink]).mean())


if __name__ == "__main__":
    unittest.main()
