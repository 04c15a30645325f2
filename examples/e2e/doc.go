// Package e2e holds end-to-end tests of the explainer sidecar against the
// real Python example model servers in examples/python, each run as its own
// process and reached over real gRPC on loopback:
//
//   - sklearn_server.py: predict.v1, a scikit-learn logistic regression on
//     the breast-cancer data set (LIME, KernelSHAP, permutation importance);
//   - kserve_server.py: KServe v2, a PyTorch CNN on the digits images (FP32
//     NCHW tensors: LIME, occlusion) and a sentiment model over BYTES
//     tensors (LIME, occlusion, KernelSHAP on text);
//   - http_server.py: KServe v1 and the Open Inference Protocol's REST API
//     over HTTP, scikit-learn models of the breast-cancer rows, the
//     sentiment sentences and the digits, each explained with LIME,
//     lime_text and lime_image through a kserve-v1-http and a
//     kserve-v2-http sidecar.
//
// The sidecar runs in the test process, wired as `explainer serve` wires it
// (server.New, predictor.Dial in plaintext, the sidecar's gRPC server
// options), and the tests call it over gRPC as any client would. Each
// assertion is something the model itself must yield, checked against the
// model server called directly: the predicted class, the instance's scores,
// Shapley sums, the data set's accuracy, where the ink of a digit is.
//
// The tests need /usr/bin/python3 with grpcio, protobuf, numpy,
// scikit-learn and PyTorch (on Debian: apt-get install python3-grpcio
// python3-protobuf python3-numpy python3-sklearn python3-torch); the HTTP
// ones only numpy and scikit-learn. Without them they skip, except when
// the environment variable CI is set, where they fail. Run them with
//
//	go test -race -count=1 ./examples/e2e/
//	go test -race -count=1 -run 'TestHTTP' ./examples/e2e/   # the HTTP ones alone
//
// There is no non-test code here: this file only documents the package.
package e2e
