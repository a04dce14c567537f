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
	trainData, accept string
}

func (f *flServeFlags) declare(fs *flag.FlagSet) {
	fs.StringVar(&f.trainData, "train-data", "", "this node's own training data `file` (CSV, label last), read only by local training in federations")
	fs.StringVar(&f.accept, "fl-accept", "", "`file` of <coordinator node id> <federation name or *> lines: the federations this node joins")
}

// config returns the federated-learning configuration (nil without
// either flag). The data is loaded once, here, and handed to fl only.
func (f *flServeFlags) config(mpcOn bool) (*api.FLConfig, error) {
	if f.trainData == "" && f.accept == "" {
		return nil, nil
	}
	if !mpcOn {
		return nil, usagef("--train-data and --fl-accept need --peers")
	}
	cfg := &api.FLConfig{}
	if f.trainData != "" {
		d, err := dataset.LoadCSVFile(f.trainData, dataset.CSVOptions{})
		if err != nil {
			return nil, err
		}
		cfg.TrainData = d
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
