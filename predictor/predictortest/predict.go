package predictortest

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	predictv1 "github.com/explainer-sidecar/explainer/proto/predict/v1"
)

// PredictServer is a fake predict.v1 PredictService.
type PredictServer struct {
	Model
	// Name, when set, is the only model name served besides ""; other
	// names get NOT_FOUND, whose message lists the model served, as the
	// example Python servers do: unknown model 'x'; this server hosts
	// ['name'].
	Name string

	predictv1.UnimplementedPredictServiceServer
}

// NewPredictServer returns a fake predict.v1 server that scores with score.
func NewPredictServer(score ScoreFunc) *PredictServer {
	return &PredictServer{Model: Model{Score: score}}
}

// Register registers the service on g.
func (s *PredictServer) Register(g *grpc.Server) { predictv1.RegisterPredictServiceServer(g, s) }

func (s *PredictServer) checkModel(name string) error {
	if s.Name != "" && name != "" && name != s.Name {
		return status.Errorf(codes.NotFound, "unknown model '%s'; this server hosts ['%s']", name, s.Name)
	}
	return nil
}

// Predict scores a batch: of texts (with TextScore) when texts is not
// empty, else of rows.
func (s *PredictServer) Predict(ctx context.Context, req *predictv1.PredictRequest) (*predictv1.PredictResponse, error) {
	if err := s.checkModel(req.GetModel()); err != nil {
		return nil, err
	}
	n, f := int(req.GetNumInstances()), int(req.GetNumFeatures())
	vals, texts := req.GetValues(), req.GetTexts()
	var out [][]float64
	var err error
	if len(texts) > 0 {
		if s.TextScore == nil {
			return nil, errNoText
		}
		if f != 0 || len(vals) != 0 || n != len(texts) {
			return nil, status.Errorf(codes.InvalidArgument, "texts has %d elements, want %d, with num_features 0 and no values", len(texts), n)
		}
		out, err = s.serveText(ctx, texts)
	} else {
		if uint64(n)*uint64(f) != uint64(len(vals)) {
			return nil, status.Errorf(codes.InvalidArgument, "values has %d elements, want %d×%d", len(vals), n, f)
		}
		shape := []int{f}
		if is := req.GetInstanceShape(); len(is) > 0 {
			shape = make([]int, len(is))
			size := uint64(1)
			for i, d := range is {
				shape[i] = int(d)
				size *= uint64(d)
				if size > 1<<32 {
					break
				}
			}
			if size != uint64(f) {
				return nil, status.Errorf(codes.InvalidArgument, "instance_shape %v holds %d values, num_features is %d", is, size, f)
			}
		}
		s.seeShape(shape)
		rows := make([][]float64, n)
		for i := range rows {
			rows[i] = vals[i*f : (i+1)*f : (i+1)*f]
		}
		out, err = s.serve(ctx, rows)
	}
	if err != nil {
		return nil, err
	}
	flat, width := flatten(out)
	return &predictv1.PredictResponse{NumClasses: uint32(width), Scores: flat}, nil
}

// Describe reports the knobs: tabular input (text when TextScore is set),
// NumFeatures, ClassNames, MaxBatchSize.
func (s *PredictServer) Describe(_ context.Context, req *predictv1.DescribeRequest) (*predictv1.DescribeResponse, error) {
	if err := s.checkModel(req.GetModel()); err != nil {
		return nil, err
	}
	kind := predictv1.InputKind_INPUT_KIND_TABULAR
	if s.TextScore != nil {
		kind = predictv1.InputKind_INPUT_KIND_TEXT
	}
	return &predictv1.DescribeResponse{
		InputKind:    kind,
		NumFeatures:  uint32(max(s.NumFeatures, 0)),
		ClassNames:   s.ClassNames,
		MaxBatchSize: uint32(max(s.MaxBatchSize, 0)),
	}, nil
}
