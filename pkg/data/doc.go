// Package data provides the example sets that sparse autoencoders are trained
// and evaluated on: the small 8x8 "digits" set, embedded in the binary so that
// every run works offline, and MNIST / Fashion-MNIST, read from a local data
// directory (or fetched once with Download). Every file read from disk is
// checked against the MD5 of its canonical uncompressed payload, so an
// experiment never silently runs on corrupted or substituted data.
package data
