// Package data provides the example sets that sparse autoencoders are trained
// and evaluated on: the small 8x8 "digits" set, embedded in the binary so that
// every run works offline, and MNIST / Fashion-MNIST, read from a local data
// directory (or fetched once with Download). Every file read from disk is
// checked against the MD5 of its canonical uncompressed payload, so an
// experiment never silently runs on corrupted or substituted data.
//
// Sparse autoencoders are also trained on vectors that are not images: activations
// stored in parquet (LoadParquet) or .npy (LoadNPY) files, and a synthetic set with
// known sparse features (Synthetic, SyntheticFeatures) that tells whether a model
// recovers them. These vector sets hold any finite values, no image shape and, unless
// the file has a label column, no labels (NoLabel); Open reads any set from a Source.
// Loading them is what bounds training on cached activations, so they are decoded
// straight into one buffer (BenchmarkLoadVectors).
//
// Every file is hostile until checked: what a header or footer claims is compared with
// the file's size before memory is allocated by it, decoded values with what the
// writer recorded, and downloads are bounded in size (by the canonical files') and
// time, so that a damaged, forged or foreign file fails by name, not as a crash, a
// hang, or a model trained on zeros.
package data
