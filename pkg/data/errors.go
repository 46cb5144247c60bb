package data

import (
	"compress/flate"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Errors returned by Load and Download wrap one of these, so callers can
// test for them with errors.Is; the messages name the file and the fix.
var (
	ErrUnknownDataset = errors.New("unknown dataset")
	ErrNotFound       = errors.New("dataset file not found")
	ErrTruncated      = errors.New("truncated file")
	ErrBadFormat      = errors.New("bad file format")
	ErrChecksum       = errors.New("checksum mismatch")
	ErrDownload       = errors.New("download failed")
)

// refetchHint tells the user how to replace a bad file.
const refetchHint = "delete it and fetch it again with `go run ./experiments download <dataset>` (data.Download from Go)"

// dirHint tells the user how to point the program at the data.
const dirHint = "set the data directory with the --data-dir flag or the SAERUN_DATA_DIR " +
	"environment variable, or fetch the files into it with `go run ./experiments download --data-dir DIR <dataset>` " +
	"(data.Download from Go)"

func unknownDatasetError(name string) error {
	return fmt.Errorf("data: %w %q: known datasets are %s",
		ErrUnknownDataset, name, strings.Join(append(Names(), VectorNames()...), ", "))
}

// classifyReadError turns an error met while reading a payload into one
// wrapping ErrTruncated or ErrBadFormat (or returns it unchanged).
func classifyReadError(err error) error {
	var corrupt flate.CorruptInputError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("%w: data ends early", ErrTruncated)
	case errors.Is(err, gzip.ErrChecksum), errors.Is(err, gzip.ErrHeader), errors.As(err, &corrupt):
		return fmt.Errorf("%w: corrupt gzip data (%v)", ErrBadFormat, err)
	}
	return err
}
