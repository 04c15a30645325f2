package server

import (
	"context"
	"math/rand/v2"

	"github.com/explainer-sidecar/explainer/explain"
	"github.com/explainer-sidecar/explainer/predictor"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	"github.com/explainer-sidecar/explainer/sampler"
)

// jobScorer is what a job's estimator scores with: the job model, or the
// job model behind a cache (auto sampling).
type jobScorer interface {
	explain.Model
	explain.TextModel
}

// job is a validated request, ready to run once or several times (auto
// sampling's rounds, stability's seeds).
type job struct {
	// model is the batcher the job's rows go through: image jobs get one
	// with their instance shape.
	model *jobModel
	// run explains with the given seed and samples (0: the request's) over
	// m. Only the primary run reports partial results.
	run func(ctx context.Context, m jobScorer, seed uint64, samples int, primary bool) (*explain.Result, error)
	// seed is the request's seed (random when it set none).
	seed uint64
	// rows is how many rows one run scores, when known (progress).
	rows int
	// sampled jobs draw samples: auto sampling applies.
	sampled bool
	// seeded jobs depend on their seed: stability applies.
	seeded bool
	// players is the number of features (groups, words, segments) a
	// seeded job attributes; stability compares them all.
	players int
	// finish adds what only the method knows to a result's proto: spans,
	// segments, maps.
	finish func(exp *explainerv1.Explanation, res *explain.Result)
	// newModel makes another model over the same client and instance
	// shape, without progress: the checks' extra runs and curves each get
	// one, so that their cost is counted apart (checkCost).
	newModel func(extra ...predictor.BatcherOption) *jobModel
	checks   []*jobModel
	// curveBatch caps the masks per call of the curves' scorer, so that
	// the rows they expand to (an image, a data set each) stay within
	// explain.MaxBatchValues values; 0 leaves FidelityCurves' default.
	curveBatch int
	// curves returns, for one explained label, the players' weights and the
	// scorer of masks over them (fidelity curves); nil when the method has
	// no players to remove.
	curves func(m jobScorer, res *explain.Result, label int) ([]float64, explain.MaskScorer)
}

// checkModel returns a new model for the checks (see newModel). It shares
// the job model's batches in flight: the checks' runs go in parallel with
// the job's, but the model server sees no more than --in-flight batches of
// the job at once.
func (j *job) checkModel() *jobModel {
	m := j.newModel(predictor.WithSharedInFlight(j.model.batcher))
	j.checks = append(j.checks, m)
	return m
}

// checkCost returns the model calls and rows of the checks' models.
func (j *job) checkCost() (calls, rows uint64) {
	for _, m := range j.checks {
		calls += uint64(m.batcher.Calls())
		rows += uint64(m.requested.Load())
	}
	return calls, rows
}

// parseJob validates req for method and builds its job over m. toProto
// turns a result into its proto for partial results.
func (s *Server) parseJob(ctx context.Context, req *explainerv1.ExplainRequest, entry *modelEntry, info predictor.ModelInfo, m *jobModel, io jobIO, toProto func(*explain.Result) *explainerv1.Explanation) (*job, error) {
	j := &job{
		model:  m,
		finish: func(*explainerv1.Explanation, *explain.Result) {},
		newModel: func(extra ...predictor.BatcherOption) *jobModel {
			return s.newJobModel(entry.client, info, nil, extra...)
		},
	}
	imageJob := func(img sampler.Image, layout explainerv1.ImageLayout) {
		shape := predictor.WithInstanceShape(imageShape(img, layout)...)
		j.model = s.newJobModel(entry.client, info, io.progress, shape)
		j.newModel = func(extra ...predictor.BatcherOption) *jobModel {
			return s.newJobModel(entry.client, info, nil, append(extra, shape)...)
		}
	}
	switch req.GetMethod().(type) {
	case *explainerv1.ExplainRequest_Lime:
		lj, err := parseLIME(req, &limeDefaults{numFeatures: info.NumFeatures, classes: info.NumClasses, randomSeed: rand.Uint64})
		if err != nil {
			return nil, err
		}
		r := lj.req
		j.seed, j.rows, j.sampled, j.seeded = r.Seed, r.NumSamples, true, true
		j.players = len(r.Instance)
		j.run = func(ctx context.Context, m jobScorer, seed uint64, n int, _ bool) (*explain.Result, error) {
			r := r
			resample(&r.Seed, &r.NumSamples, seed, n)
			return explain.LIME(ctx, m, r)
		}
		j.curves = tabularCurves(r.Instance, nil, limeBaseline(r.Stats, len(r.Instance)))
	case *explainerv1.ExplainRequest_KernelShap:
		switch {
		case req.GetInstance().GetText() != nil:
			r, err := parseKernelSHAPText(req, info, rand.Uint64)
			if err != nil {
				return nil, err
			}
			err = wordJob(j, req, r.Positional, r.MaskString, r.Seed, r.NumSamples,
				func(ctx context.Context, m explain.TextModel, seed uint64, n int) (*explain.Result, *explain.TextFeatures, error) {
					r := r
					resample(&r.Seed, &r.NumSamples, seed, n)
					return explain.KernelSHAPText(ctx, m, r)
				})
			if err != nil {
				return nil, err
			}
		case req.GetInstance().GetImage() != nil:
			img, layout, err := checkedImage(req, info)
			if err != nil {
				return nil, err
			}
			r, err := parseKernelSHAPImage(req, img, info, rand.Uint64)
			if err != nil {
				return nil, err
			}
			imageJob(img, layout)
			err = segmentJob(j, img, layout, r.Segments, r.NumSegments, r.Fill, r.Seed, r.NumSamples, "kernel_shap.fill",
				func(ctx context.Context, m explain.Model, seed uint64, n int) (*explain.Result, error) {
					r := r
					resample(&r.Seed, &r.NumSamples, seed, n)
					return explain.KernelSHAPImage(ctx, m, r)
				})
			if err != nil {
				return nil, err
			}
		default:
			r, names, err := parseKernelSHAP(req, info, rand.Uint64)
			if err != nil {
				return nil, err
			}
			j.seed, j.rows, j.sampled, j.seeded = r.Seed, r.NumSamples, true, true
			j.players = playerCount(len(r.Instance), r.Groups)
			j.run = func(ctx context.Context, m jobScorer, seed uint64, n int, _ bool) (*explain.Result, error) {
				r := r
				resample(&r.Seed, &r.NumSamples, seed, n)
				res, err := explain.KernelSHAP(ctx, m, r)
				if err == nil {
					nameGroups(res, names)
				}
				return res, err
			}
			j.curves = tabularCurves(r.Instance, r.Groups, weightedMean(r.Background, r.BackgroundWeights))
		}
	case *explainerv1.ExplainRequest_Permutation:
		r, names, err := parsePermutation(ctx, req.GetPermutation(), info, io.data, rand.Uint64)
		if err != nil {
			return nil, err
		}
		j.seed, j.rows, j.seeded = r.Seed, permutationRows(r), true
		j.players = playerCount(len(r.Data[0]), r.Groups)
		j.run = func(ctx context.Context, m jobScorer, seed uint64, _ int, primary bool) (*explain.Result, error) {
			r := r
			r.Seed = seed
			r.Partial = nil
			if primary && io.partial != nil {
				r.Partial = func(done int, res *explain.Result) {
					nameGroups(res, names)
					exp := toProto(res)
					exp.RepeatsDone = uint32(done)
					io.partial(exp)
				}
			}
			res, err := explain.Permutation(ctx, m, r)
			if err == nil {
				nameGroups(res, names)
			}
			return res, err
		}
		j.curveBatch = masksPerCall(min(len(r.Data), maxCurveRows) * len(r.Data[0]))
		j.curves = datasetCurves(r.Data, r.Groups, func(scores [][]float64, rows []int) (float64, error) {
			return explain.Score(r.Scoring, scores, pick(r.Target, rows), pick(r.Weights, rows), r.Output)
		})
	case *explainerv1.ExplainRequest_LimeText:
		r, err := parseLIMEText(req, info, rand.Uint64)
		if err != nil {
			return nil, err
		}
		err = wordJob(j, req, r.Positional, r.MaskString, r.Seed, r.NumSamples,
			func(ctx context.Context, m explain.TextModel, seed uint64, n int) (*explain.Result, *explain.TextFeatures, error) {
				r := r
				resample(&r.Seed, &r.NumSamples, seed, n)
				return explain.LIMEText(ctx, m, r)
			})
		if err != nil {
			return nil, err
		}
	case *explainerv1.ExplainRequest_LimeImage:
		img, layout, err := checkedImage(req, info)
		if err != nil {
			return nil, err
		}
		r, err := parseLIMEImage(req, img, info, rand.Uint64)
		if err != nil {
			return nil, err
		}
		imageJob(img, layout)
		err = segmentJob(j, img, layout, r.Segments, r.NumSegments, r.Fill, r.Seed, r.NumSamples, "lime_image.fill",
			func(ctx context.Context, m explain.Model, seed uint64, n int) (*explain.Result, error) {
				r := r
				resample(&r.Seed, &r.NumSamples, seed, n)
				return explain.LIMEImage(ctx, m, r)
			})
		if err != nil {
			return nil, err
		}
	case *explainerv1.ExplainRequest_Occlusion:
		if req.GetInstance().GetText() != nil {
			return textOcclusionJob(req, j, info)
		}
		return s.imageOcclusionJob(req, j, info, io, imageJob)
	case *explainerv1.ExplainRequest_Sensitivity:
		r, err := parseSensitivity(ctx, req.GetSensitivity(), info, io.data)
		if err != nil {
			return nil, err
		}
		j.rows = 2 * len(r.Data) * len(r.Data[0])
		j.run = func(ctx context.Context, m jobScorer, _ uint64, _ int, _ bool) (*explain.Result, error) {
			return explain.Sensitivity(ctx, m, r)
		}
		j.curveBatch = masksPerCall((min(len(r.Data), maxCurveRows) + 1) * len(r.Data[0]))
		j.curves = sensitivityCurves(r.Data)
	default:
		return nil, invalidArgument("method: unknown method")
	}
	return j, nil
}

// resample sets a copy of a request's seed and, when n > 0, its sample
// count: each run of a job (auto sampling's rounds, stability's seeds)
// overrides the request's.
func resample(seedField *uint64, samplesField *int, seed uint64, n int) {
	*seedField = seed
	if n > 0 {
		*samplesField = n
	}
}

// checkedImage parses the request's image and checks its size against the
// model's input.
func checkedImage(req *explainerv1.ExplainRequest, info predictor.ModelInfo) (sampler.Image, explainerv1.ImageLayout, error) {
	img, layout, err := parseImage(req)
	if err != nil {
		return img, layout, err
	}
	return img, layout, checkImageWidth(img, info)
}

// wordJob sets j up for a method that explains a text by its words
// (lime_text, kernel_shap): explainText runs it, the result carries each
// word's spans, and the fidelity curves hide a word as the method does
// (mask, or dropped; UNKWORDZ in positional mode).
func wordJob(j *job, req *explainerv1.ExplainRequest, positional bool, mask string, seed uint64, samples int,
	explainText func(context.Context, explain.TextModel, uint64, int) (*explain.Result, *explain.TextFeatures, error)) error {
	dom, err := textDomain(req.GetInstance().GetText(), positional)
	if err != nil {
		return err
	}
	j.seed, j.rows, j.sampled, j.seeded, j.players = seed, samples, true, true, len(dom.Features)
	var tf *explain.TextFeatures
	j.run = func(ctx context.Context, m jobScorer, seed uint64, samples int, primary bool) (*explain.Result, error) {
		res, f, err := explainText(ctx, m, seed, samples)
		if primary { // the other runs' features are the same words
			tf = f
		}
		return res, err
	}
	j.finish = func(exp *explainerv1.Explanation, _ *explain.Result) { addSpans(exp, tf) }
	j.curves = textCurves(dom, textMask(mask, positional))
	return nil
}

// segmentJob sets j up for a method that explains an image by its
// segments (lime_image, kernel_shap): explainImage runs it on the image
// model, the result carries the segment map, and the fidelity curves hide
// a segment as the method does, with fill (or, when fill is unset, each
// segment's mean colour). fillField names the fill in errors.
func segmentJob(j *job, img sampler.Image, layout explainerv1.ImageLayout, segments []int, n int, fill sampler.Image,
	seed uint64, samples int, fillField string, explainImage func(context.Context, explain.Model, uint64, int) (*explain.Result, error)) error {
	j.seed, j.rows, j.sampled, j.seeded, j.players = seed, samples, true, true, n
	j.run = func(ctx context.Context, m jobScorer, seed uint64, samples int, _ bool) (*explain.Result, error) {
		return explainImage(ctx, imageModel(m, img, layout), seed, samples)
	}
	j.finish = func(exp *explainerv1.Explanation, _ *explain.Result) {
		exp.Segments = segmentMap(segments, img.H, img.W)
	}
	if fill.Pix == nil {
		var err error
		if fill, err = sampler.SegmentMeanFill(img, segments, n); err != nil {
			return invalidArgument("%s: %v", fillField, err)
		}
	}
	j.curves = imageCurves(img, layout, segments, n, fill)
	j.curveBatch = masksPerCall(len(img.Pix))
	return nil
}

// masksPerCall is how many masks the curves score per call when each
// becomes model input of rowValues values.
func masksPerCall(rowValues int) int { return max(1, explain.MaxBatchValues/max(1, rowValues)) }

// imageOcclusionJob builds an occlusion job over an image.
func (s *Server) imageOcclusionJob(req *explainerv1.ExplainRequest, j *job, info predictor.ModelInfo, io jobIO, imageJob func(sampler.Image, explainerv1.ImageLayout)) (*job, error) {
	img, layout, err := checkedImage(req, info)
	if err != nil {
		return nil, err
	}
	oj, err := parseOcclusion(req, img, info)
	if err != nil {
		return nil, err
	}
	imageJob(img, layout)
	j.rows = oj.windows + 1 // the image, then every window
	var ores *explain.OcclusionResult
	j.run = func(ctx context.Context, m jobScorer, _ uint64, _ int, primary bool) (*explain.Result, error) {
		r := oj.req
		rec := &instanceRecorder{m: imageModel(m, img, layout), input: img.Pix}
		if primary && io.partial != nil {
			// Score about a band per call, so that partial results come as
			// the bands finish, and at least half the batches in flight:
			// occlusion keeps two calls going, which keeps the model busy.
			// Two calls' images stay within MaxBatchValues values.
			perBand := max(1, oj.windows/oj.bands)
			half := (s.batchSize(info)*max(1, s.opts.inFlight) + 1) / 2
			r.BatchRows = min(max(perBand, half), max(1, explain.MaxBatchValues/(2*len(img.Pix))))
			r.Partial = func(done, _ int, attributions [][]float64) {
				exp := &explainerv1.Explanation{
					Method:     "occlusion",
					Model:      modelName(req.GetModel(), s.opts.defaultModel),
					ClassNames: info.ClassNames,
					ModelCalls: uint64(j.model.batcher.Calls()),
					BandsDone:  uint32(done / perBand),
					BandsTotal: uint32(oj.bands),
				}
				exp.Maps = pixelMaps(attributions, nil, rec.targets(r.Targets), img.H, img.W, img.C)
				io.partial(exp)
			}
		}
		res, err := explain.Occlusion(ctx, rec, r)
		if err != nil {
			return nil, err
		}
		ores = res
		out := &explain.Result{Method: "occlusion", InstanceScores: res.InstanceScores, NumSamples: res.NumWindows + 1}
		for _, t := range res.Targets {
			out.Labels = append(out.Labels, explain.LabelResult{Label: t, Prediction: res.InstanceScores[t]})
		}
		return out, nil
	}
	j.finish = func(exp *explainerv1.Explanation, _ *explain.Result) {
		exp.Maps = pixelMaps(ores.Attributions, ores.StdErrs, ores.Targets, img.H, img.W, img.C)
		exp.BandsDone, exp.BandsTotal = uint32(oj.bands), uint32(oj.bands)
	}
	j.curveBatch = masksPerCall(len(img.Pix))
	fill := sampler.ConstantFill(img, oj.req.Baseline)
	pixels := make([]int, img.H*img.W)
	for i := range pixels {
		pixels[i] = i
	}
	j.curves = func(m jobScorer, res *explain.Result, label int) ([]float64, explain.MaskScorer) {
		for t, target := range ores.Targets {
			if target == label {
				weights := channelMean(ores.Attributions[t], img.C)
				return weights, imageScorer(m, img, layout, pixels, fill, label)
			}
		}
		return nil, nil
	}
	return j, nil
}

// playerCount is the number of players of p features, or of the groups.
func playerCount(p int, groups [][]int) int {
	if len(groups) > 0 {
		return len(groups)
	}
	return p
}
