package demo

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	predictv1 "github.com/explainer-sidecar/explainer/proto/predict/v1"
)

// ModelName is the demo model's name on its predict.v1 server.
const ModelName = "breast_cancer"

// Server serves a Logistic over predict.v1.
type Server struct {
	predictv1.UnimplementedPredictServiceServer
	model        *Logistic
	featureNames []string
	maxBatchSize int
}

// NewServer serves model under ModelName.
func NewServer(model *Logistic, featureNames []string, maxBatchSize int) *Server {
	return &Server{model: model, featureNames: featureNames, maxBatchSize: maxBatchSize}
}

// Predict scores a batch.
func (s *Server) Predict(_ context.Context, req *predictv1.PredictRequest) (*predictv1.PredictResponse, error) {
	if err := s.checkModel(req.GetModel()); err != nil {
		return nil, err
	}
	n, p := int(req.GetNumInstances()), int(req.GetNumFeatures())
	if p != len(s.model.Coef) {
		return nil, status.Errorf(codes.InvalidArgument, "num_features is %d, the model takes %d", p, len(s.model.Coef))
	}
	if len(req.GetValues()) != n*p {
		return nil, status.Errorf(codes.InvalidArgument, "%d values for %d×%d instances", len(req.GetValues()), n, p)
	}
	if s.maxBatchSize > 0 && n > s.maxBatchSize {
		return nil, status.Errorf(codes.InvalidArgument, "batch of %d exceeds max_batch_size %d", n, s.maxBatchSize)
	}
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = req.GetValues()[i*p : (i+1)*p]
	}
	resp := &predictv1.PredictResponse{NumClasses: 2, Scores: make([]float64, 0, 2*n)}
	for _, pr := range s.model.PredictProba(rows) {
		resp.Scores = append(resp.Scores, pr...)
	}
	return resp, nil
}

// Describe describes the model.
func (s *Server) Describe(_ context.Context, req *predictv1.DescribeRequest) (*predictv1.DescribeResponse, error) {
	if err := s.checkModel(req.GetModel()); err != nil {
		return nil, err
	}
	return &predictv1.DescribeResponse{
		InputKind:    predictv1.InputKind_INPUT_KIND_TABULAR,
		NumFeatures:  uint32(len(s.model.Coef)),
		ClassNames:   ClassNames,
		MaxBatchSize: uint32(s.maxBatchSize),
		FeatureNames: s.featureNames,
	}, nil
}

func (s *Server) checkModel(name string) error {
	if name != "" && name != ModelName {
		return status.Error(codes.NotFound, fmt.Sprintf("unknown model %q; this server hosts %q", name, ModelName))
	}
	return nil
}
