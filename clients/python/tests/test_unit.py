"""Request building and result conversion, without a server."""

import unittest

import numpy as np

from explainer_client import PANDAS_MISSING, BatchExplanation, Explanation, Progress, pb
from explainer_client._client import ExplainError, _chunk_requests, rows_of, set_options, table, Explainer


class FakeFrame:
    """Enough of a pandas DataFrame for the client's duck typing."""

    def __init__(self, data, columns):
        self.data, self.columns = np.asarray(data, dtype=float), list(columns)

    def to_numpy(self, dtype=None):
        return self.data.astype(dtype or float)

    def drop(self, columns):
        keep = [i for i, c in enumerate(self.columns) if c not in columns]
        return FakeFrame(self.data[:, keep], [self.columns[i] for i in keep])

    def __getitem__(self, col):
        return FakeSeries(self.data[:, self.columns.index(col)], range(len(self.data)))


class FakeSeries:
    def __init__(self, values, index):
        self.values, self.index = np.asarray(values, dtype=float), list(index)

    def to_numpy(self, dtype=None):
        return self.values


class RecordingStub:
    """Captures the StartJob of a call and answers with a canned result."""

    def __init__(self, events):
        self.events, self.sent = events, []

    def ExplainStream(self, requests, timeout=None):
        stub = self

        class Call:
            def __iter__(self):
                first = next(requests)
                stub.sent.append(first)
                job = first.start.job_id
                for e in stub.events:
                    r = pb.ExplainStreamResponse()
                    r.CopyFrom(e)
                    r.job_id = job
                    yield r

            def cancel(self):
                pass

        return Call()


def explanation_proto():
    e = pb.Explanation(method="lime", model="m", class_names=["no", "yes"], seed=7, num_samples=100,
                       model_calls=2, instance_scores=[0.2, 0.8])
    e.elapsed.FromMilliseconds(1500)
    le = e.labels.add(label=1, prediction=0.8, intercept=0.1, score=0.9)
    le.attributions.add(index=2, feature="c > 1", weight=0.5, std_error=0.01)
    le.attributions.add(index=0, feature="a <= 0", weight=-0.25)
    return e


class InputTest(unittest.TestCase):
    def test_table_from_array_and_frame(self):
        arr, names = table([[1, 2], [3, 4]])
        self.assertEqual(arr.shape, (2, 2))
        self.assertEqual(names, [])
        arr, names = table(FakeFrame([[1, 2]], ["a", "b"]))
        self.assertEqual(names, ["a", "b"])
        # a frame's columns are put in the order of the row's features
        arr, names = table(FakeFrame([[1, 2, 3]], ["a", "b", "c"]), ["c", "a", "b"])
        self.assertEqual(arr.tolist(), [[3, 1, 2]])
        with self.assertRaisesRegex(ValueError, r"no columns \['d'\]"):
            table(FakeFrame([[1, 2]], ["a", "b"]), ["a", "d"])
        with self.assertRaisesRegex(ValueError, "2 feature names for 3 features"):
            table([[1, 2, 3]], ["a", "b"])
        with self.assertRaisesRegex(ValueError, "finite"):
            table([[1, float("nan")]])

    def test_rows_of(self):
        rows, names, batch = rows_of([1.0, 2.0])
        self.assertFalse(batch)
        rows, names, batch = rows_of(np.ones((3, 2)))
        self.assertTrue(batch)
        rows, names, batch = rows_of(FakeSeries([1, 2], ["a", "b"]))
        self.assertEqual((names, batch), (["a", "b"], False))
        rows, names, batch = rows_of(FakeSeries([1, 2], range(2)))
        self.assertEqual(names, [])
        rows, names, batch = rows_of(FakeFrame([[1, 2]], ["a", "b"]))
        self.assertFalse(batch)  # a one-row frame is one instance

    def test_set_options(self):
        o = set_options(pb.LimeOptions(), dict(feature_selection="lasso_path", kernel_width=2.0, labels=[1]))
        self.assertEqual(o.feature_selection, pb.FEATURE_SELECTION_LASSO_PATH)
        self.assertEqual(list(o.labels), [1])
        self.assertFalse(o.HasField("seed"))
        with self.assertRaisesRegex(ValueError, "highest_weights"):
            set_options(pb.LimeOptions(), dict(feature_selection="best"))
        with self.assertRaisesRegex(TypeError, "no option 'bogus'"):
            set_options(pb.LimeOptions(), dict(bogus=1))

    def test_chunks(self):
        arr = np.arange(20.0).reshape(10, 2)
        chunks = list(_chunk_requests("j", (arr, np.arange(10.0), None), values_per_chunk=6))
        self.assertEqual([len(c.data.targets) for c in chunks], [3, 3, 3, 1])
        self.assertEqual([c.data.last for c in chunks], [False, False, False, True])
        self.assertEqual(sum((list(c.data.values) for c in chunks), []), arr.ravel().tolist())


class RequestTest(unittest.TestCase):
    def run_with(self, fn, events=None):
        result = pb.ExplainStreamResponse(result=explanation_proto())
        stub = RecordingStub(events or [result])
        with Explainer("127.0.0.1:1", model="m") as ex:  # channels connect lazily: never here
            ex.stub = stub
            out = fn(ex)
        return stub.sent[0].start.request, out

    def test_lime_single_row(self):
        req, out = self.run_with(lambda ex: ex.lime([1, 2, 3], training=np.zeros((4, 3)),
                                                    feature_names=["a", "b", "c"], seed=3,
                                                    categorical_features={"b": ["x", "y"]},
                                                    feature_selection="none"))
        self.assertEqual(req.model, "m")
        self.assertEqual(list(req.instance.tabular.values), [1, 2, 3])
        self.assertEqual(list(req.instance.tabular.feature_names), ["a", "b", "c"])
        self.assertEqual(req.instance.tabular.categorical_features[0].index, 1)
        self.assertEqual(req.lime.training.dataset.num_rows, 4)
        self.assertEqual(req.lime.seed, 3)
        self.assertEqual(req.lime.feature_selection, pb.FEATURE_SELECTION_NONE)
        self.assertFalse(req.HasField("batch"))
        self.assertIsInstance(out, Explanation)

    def test_lime_batch(self):
        events = [
            pb.ExplainStreamResponse(progress=pb.Progress(instances_done=1, instances_total=2)),
            pb.ExplainStreamResponse(instance=pb.InstanceExplanation(index=1, explanation=explanation_proto())),
            pb.ExplainStreamResponse(instance=pb.InstanceExplanation(index=0, explanation=explanation_proto())),
            pb.ExplainStreamResponse(result=pb.Explanation(method="lime", batch=pb.BatchExplanation(instances=2))),
        ]
        seen = []
        req, out = self.run_with(lambda ex: ex.lime(np.ones((2, 3)), training=np.zeros((4, 3)),
                                                    progress=seen.append, submodular_pick=1), events)
        self.assertEqual(req.batch.tabular.rows.num_rows, 2)
        self.assertEqual(req.batch.submodular_pick, 1)
        self.assertFalse(req.HasField("instance"))
        self.assertIsInstance(out, BatchExplanation)
        self.assertEqual([x.index for x in out], [0, 1])
        self.assertEqual(seen, [Progress(0, 0, 0, 1, 2)])
        self.assertEqual(seen[0].fraction, 0.5)
        self.assertEqual(out.to_records()[0]["instance"], 0)

    def test_kernel_shap_and_auto_sampling(self):
        req, _ = self.run_with(lambda ex: ex.kernel_shap([1, 2], background=[[0, 0], [1, 1]], link="logit",
                                                         summarize="kmeans:2", auto_sampling={"tolerance": 0.01},
                                                         num_samples=99))
        self.assertEqual(req.kernel_shap.link, pb.LINK_LOGIT)
        self.assertEqual(req.kernel_shap.background_summary.kmeans, 2)
        self.assertEqual(req.kernel_shap.num_samples, 0)  # auto sampling replaces it
        self.assertEqual(req.auto_sampling.tolerance, 0.01)

    def test_permutation_target_column(self):
        df = FakeFrame([[1, 2, 0], [3, 4, 1]], ["a", "b", "y"])
        req, _ = self.run_with(lambda ex: ex.permutation(df, target="y", scoring="roc_auc", repeats=3,
                                                         groups=[["a", "b"]]))
        d = req.permutation.data
        self.assertEqual(list(d.feature_names), ["a", "b"])
        self.assertEqual(list(d.values), [1, 2, 3, 4])
        self.assertEqual(list(d.targets), [0, 1])
        self.assertEqual(req.permutation.scoring, pb.SCORING_ROC_AUC)
        self.assertEqual(list(req.permutation.groups[0].features), [0, 1])
        with self.assertRaisesRegex(TypeError, "DataFrame"):
            self.run_with(lambda ex: ex.permutation([[1, 2]], target="y"))

    def test_lime_text(self):
        req, _ = self.run_with(lambda ex: ex.lime_text("good food", mask_string="[MASK]", model="sentiment"))
        self.assertEqual(req.instance.text.text, "good food")
        self.assertEqual(req.model, "sentiment")
        self.assertEqual(req.lime_text.mask_string, "[MASK]")
        req, _ = self.run_with(lambda ex: ex.lime_text(["a", "b"]),
                               [pb.ExplainStreamResponse(result=pb.Explanation(batch=pb.BatchExplanation()))])
        self.assertEqual(list(req.batch.text.texts), ["a", "b"])

    def test_job_error(self):
        err = pb.ExplainStreamResponse(error=pb.JobError(code=3, message="bad row"))
        with self.assertRaises(ExplainError) as cm:
            self.run_with(lambda ex: ex.lime([1], training=[[0]]), [err])
        self.assertEqual(cm.exception.code.name, "INVALID_ARGUMENT")
        self.assertEqual(cm.exception.message, "bad row")


class ConnectionTest(unittest.TestCase):
    def test_no_sidecar(self):
        with Explainer("127.0.0.1:1", timeout=5) as ex:  # nothing listens on port 1
            with self.assertRaises(ExplainError) as cm:
                ex.lime([1.0], training=[[0.0], [1.0]])
        self.assertIn(cm.exception.code.name, ("UNAVAILABLE", "DEADLINE_EXCEEDED"))


class ResultTest(unittest.TestCase):
    def test_explanation(self):
        e = Explanation.from_proto(explanation_proto())
        self.assertEqual(e.elapsed, 1.5)
        le = e.label("yes")
        self.assertEqual(le.class_name, "yes")  # from the explanation's class names
        self.assertEqual(le.as_dict(), {"c > 1": 0.5, "a <= 0": -0.25})
        self.assertEqual(e.label(1), le)
        with self.assertRaises(KeyError):
            e.label(0)
        recs = e.to_records()
        self.assertEqual(recs[0], {"label": 1, "class_name": "yes", "feature": "c > 1", "index": 2,
                                   "weight": 0.5, "std_error": 0.01, "std": 0.0})

    def test_enums_and_permutation_fields(self):
        p = pb.Explanation(method="permutation", scoring=pb.SCORING_NEG_LOG_LOSS, baseline_score=-0.1,
                           stop_reason=pb.STOP_REASON_TARGET_MET)
        p.labels.add().attributions.add(feature="x", weight=0.1, std=0.02, values=[0.08, 0.12])
        e = Explanation.from_proto(p)
        self.assertEqual((e.scoring, e.stop_reason), ("neg_log_loss", "target_met"))
        self.assertEqual(e.labels[0].attributions[0].values, [0.08, 0.12])

    def test_batch_summaries(self):
        r = pb.Explanation(method="lime", class_names=["a", "b"])
        s = r.batch.summaries.add(label=1, picked=[2])
        s.features.add(index=3, feature="x3", mean_abs=0.4, std_error=0.1, mean=-0.2, count=5)
        r.batch.explanations.append(explanation_proto())  # as Explain returns them
        b = BatchExplanation.from_proto(r, {})
        self.assertEqual(len(b), 1)
        self.assertEqual(b.summaries[0].class_name, "b")
        self.assertEqual(b.summaries[0].features[0].mean_abs, 0.4)

    def test_image_instance(self):
        from explainer_client._client import image_instance
        hwc = image_instance(np.arange(6).reshape(2, 3))  # H×W: one channel
        self.assertEqual((hwc.height, hwc.width, hwc.channels, hwc.layout), (2, 3, 1, pb.IMAGE_LAYOUT_HWC))
        self.assertEqual(list(hwc.values), [0, 1, 2, 3, 4, 5])
        chw = image_instance(np.zeros((3, 2, 4)), layout="chw")
        self.assertEqual((chw.height, chw.width, chw.channels, chw.layout), (2, 4, 3, pb.IMAGE_LAYOUT_CHW))
        with self.assertRaises(ValueError):
            image_instance(np.zeros(5))

    def test_batch_failures(self):
        """Explain's result lists the instances left out (skip_failed) and
        leaves their explanations empty: they are failures, not instances."""
        r = pb.Explanation(method="lime_text")
        for i in range(3):
            r.batch.explanations.append(explanation_proto() if i != 1 else pb.Explanation())
        r.batch.failures.add(index=1, code="INVALID_ARGUMENT", message="instance.text: has no words")
        b = BatchExplanation.from_proto(r, {})
        self.assertEqual([x.index for x in b], [0, 2])
        self.assertEqual([(f.index, f.code, f.message) for f in b.failures],
                         [(1, "INVALID_ARGUMENT", "instance.text: has no words")])

    def test_to_frame(self):
        e = Explanation.from_proto(explanation_proto())
        try:
            import pandas  # noqa: F401
        except ImportError:
            with self.assertRaises(ImportError) as cm:
                e.to_frame()
            self.assertEqual(str(cm.exception), PANDAS_MISSING)
            self.assertIn("pip install pandas", PANDAS_MISSING)
            return
        df = e.to_frame()
        self.assertEqual(list(df.columns), ["label", "class_name", "feature", "index", "weight", "std_error", "std"])
        self.assertEqual(df["weight"].tolist(), [0.5, -0.25])

    def test_to_frame_calls_pandas(self):
        """With a stand-in pandas module: what to_frame hands DataFrame."""
        import sys
        import types

        calls = []
        fake = types.ModuleType("pandas")
        fake.DataFrame = types.SimpleNamespace(from_records=lambda recs, columns: calls.append((recs, columns)) or "df")
        real = sys.modules.get("pandas")
        sys.modules["pandas"] = fake
        try:
            r = pb.Explanation()
            r.batch.explanations.append(explanation_proto())
            self.assertEqual(BatchExplanation.from_proto(r, {}).to_frame(), "df")
        finally:
            if real is None:
                del sys.modules["pandas"]
            else:
                sys.modules["pandas"] = real
        recs, columns = calls[0]
        self.assertEqual(columns, ["instance", "label", "class_name", "feature", "index", "weight", "std_error", "std"])
        self.assertEqual([r["feature"] for r in recs], ["c > 1", "a <= 0"])
        self.assertEqual({r["instance"] for r in recs}, {0})


if __name__ == "__main__":
    unittest.main()
