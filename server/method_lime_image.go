package server

import (
	"context"

	"github.com/explainer-sidecar/explainer/engine"
	"github.com/explainer-sidecar/explainer/explain"
	"github.com/explainer-sidecar/explainer/predictor"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	"github.com/explainer-sidecar/explainer/sampler"
)

// lime_image: LIME on an image's segments (lime's LimeImageExplainer).

func init() {
	register("lime_image", method{parse: parseLIMEImageJob, batch: batchOf(parseLIMEImageJob)})
}

func parseLIMEImageJob(_ context.Context, in *parseInput) (*jobSpec, error) {
	img, layout, err := checkedImage(in.req, in.info)
	if err != nil {
		return nil, err
	}
	r, err := parseLIMEImage(in.req, img, in.info, in.seed)
	if err != nil {
		return nil, err
	}
	return segmentSpec(img, layout, r.Segments, r.NumSegments, r.Fill, r.Seed, r.NumSamples, "lime_image.fill",
		func(ctx context.Context, m explain.Model, run engine.Run) (*explain.Result, error) {
			r := r
			applyRun(run, &r.Sampling, &r.Targets)
			return explain.LIMEImage(ctx, m, r)
		})
}

// parseLIMEImage validates a LIME image request. The image is HWC.
func parseLIMEImage(req *explainerv1.ExplainRequest, img sampler.Image, info predictor.ModelInfo, seed uint64) (explain.LIMEImageRequest, error) {
	const field = "lime_image"
	o := req.GetLimeImage()
	var r explain.LIMEImageRequest
	sampling, fit, targets, err := limeCommon(o, info, seed, explain.DefaultImageNumSamples)
	if err != nil {
		return r, err
	}
	if info.NumClasses > 0 && int(o.GetTopLabels()) > info.NumClasses {
		return r, invalidArgument("%s.top_labels: %d exceeds the model's %d classes", field, o.GetTopLabels(), info.NumClasses)
	}
	segments, nseg, err := segment(field, o.GetSegmentation(), img)
	if err != nil {
		return r, err
	}
	if n := sampling.NumSamples; n*nseg > MaxSampleValues {
		return r, invalidArgument("%s.num_samples: %d samples × %d segments exceeds limit %d values; lower num_samples", field, n, nseg, MaxSampleValues)
	}
	if err := checkFitMemory(field, sampling.NumSamples, nseg); err != nil {
		return r, err
	}
	fill, err := imageFill(field, o.GetFill(), img)
	if err != nil {
		return r, err
	}
	return explain.LIMEImageRequest{
		Image:        img,
		Segments:     segments,
		NumSegments:  nseg,
		Fill:         fill,
		Sampling:     sampling,
		SurrogateFit: fit,
		Targets:      targets,
	}, nil
}
