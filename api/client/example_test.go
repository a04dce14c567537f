package client_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/aios-edge/aios/api/apitest"
	"github.com/aios-edge/aios/api/client"
	"github.com/aios-edge/aios/inference"
	"github.com/aios-edge/aios/inference/dataset"
)

// Predicting through the SDK: pick the node's model by name, make sure the
// node has this client's evaluation keys, and classify rows of raw
// features under encryption. Here the node is an in-process one serving
// the bundled digits model; against a real node, New takes its URL and a
// client token.
func ExampleClient_InferSamples() {
	vectors := apitest.TestVectors()
	modelFile, err := os.ReadFile(filepath.Join(vectors, "models", "digits.aios"))
	if err != nil {
		log.Fatal(err)
	}
	url, token, stop, err := apitest.Start(modelFile)
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	d, err := dataset.LoadCSVFile(filepath.Join(vectors, "datasets", "digits.csv.gz"), dataset.CSVOptions{})
	if err != nil {
		log.Fatal(err)
	}
	rows := d.X[:4] // the first four digits of the data set: 0, 1, 2, 3

	ctx := context.Background()
	c, err := client.New(url, token, client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	models, err := c.Models(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, info := range models {
		if info.Name != "digits" {
			continue
		}
		// Keys for the batch packing; with a file name instead of "" they
		// are kept in that file for the next run.
		km, key, err := c.EnsureKeys(ctx, info, inference.Batch, "")
		if err != nil {
			log.Fatal(err)
		}
		logits, stats, err := c.InferSamples(ctx, info, key.ID, km, inference.Batch, rows, nil)
		if err != nil {
			log.Fatal(err)
		}
		for i, class := range inference.Argmax(logits) {
			fmt.Printf("row %d: %s\n", i+1, info.Classes[class])
		}
		fmt.Printf("%d rows in %d request\n", stats.Samples, stats.Requests)
	}
	// Output:
	// row 1: 0
	// row 2: 1
	// row 3: 2
	// row 4: 3
	// 4 rows in 1 request
}
