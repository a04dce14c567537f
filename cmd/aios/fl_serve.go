package main

import (
	"flag"
	"os"

	"github.com/aios-edge/aios/api"
	"github.com/aios-edge/aios/fl"
	"github.com/aios-edge/aios/inference/dataset"
)

// flServeFlags are the flags `aios serve` takes for federated learning.
type flServeFlags struct {
	trainData, accept, evalData string
}

func (f *flServeFlags) declare(fs *flag.FlagSet) {
	fs.StringVar(&f.trainData, "train-data", "", "this node's own training data `file` (CSV, label last), read only by local training in federations")
	fs.StringVar(&f.evalData, "fl-eval-data", "", "held-out `file` (CSV, label last) this node scores each round's global model on when it coordinates a federation; the accuracy appears in the federation's status")
	fs.StringVar(&f.accept, "fl-accept", "", "`file` of <coordinator node id> <federation name or *> lines: the federations this node joins")
}

// config returns the federated-learning configuration (nil without any
// of the flags). The data is loaded once, here, and handed to fl only.
func (f *flServeFlags) config(mpcOn bool) (*api.FLConfig, error) {
	if f.trainData == "" && f.accept == "" && f.evalData == "" {
		return nil, nil
	}
	if !mpcOn {
		return nil, usagef("--train-data, --fl-eval-data and --fl-accept need --peers")
	}
	cfg := &api.FLConfig{}
	var err error
	if cfg.TrainData, err = loadFLData(f.trainData); err != nil {
		return nil, err
	}
	if cfg.EvalData, err = loadFLData(f.evalData); err != nil {
		return nil, err
	}
	if f.accept != "" {
		b, err := os.ReadFile(f.accept)
		if err != nil {
			return nil, err
		}
		if cfg.Accept, err = fl.ParseAcceptList(b); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// loadFLData loads a data file given to serve (nil for no path).
func loadFLData(path string) (*dataset.Dataset, error) {
	if path == "" {
		return nil, nil
	}
	return dataset.LoadCSVFile(path, dataset.CSVOptions{})
}
