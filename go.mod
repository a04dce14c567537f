module github.com/aios-edge/aios

go 1.26

require github.com/tuneinsight/lattigo/v5 v5.0.7 // indirect
