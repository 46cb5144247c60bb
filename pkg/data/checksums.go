package data

// The four files of an IDX dataset (MNIST layout), without the .gz suffix.
const (
	trainImagesFile = "train-images-idx3-ubyte"
	trainLabelsFile = "train-labels-idx1-ubyte"
	testImagesFile  = "t10k-images-idx3-ubyte"
	testLabelsFile  = "t10k-labels-idx1-ubyte"
)

// idxFiles lists the files of an IDX dataset in a fixed order.
var idxFiles = []string{trainImagesFile, trainLabelsFile, testImagesFile, testLabelsFile}

// fileSums maps a file name (without .gz) to the hex MD5 of its uncompressed payload.
type fileSums map[string]string

// canonicalMD5 holds the well-known MD5s of the uncompressed canonical files.
// Gzip bytes differ between mirrors, so only the payload is checked.
var canonicalMD5 = map[string]fileSums{
	"mnist": {
		trainImagesFile: "6bbc9ace898e44ae57da46a324031adb",
		trainLabelsFile: "a25bea736e30d166cdddb491f175f624",
		testImagesFile:  "2646ac647ad5339dbf082846283269ea",
		testLabelsFile:  "27ae3e4e09519cfbb04c329615203637",
	},
	"fashion-mnist": {
		trainImagesFile: "f4a8712d7a061bf5bd6d2ca38dc4d50a",
		trainLabelsFile: "9018921c3c673c538a1fc5bad174d6f9",
		testImagesFile:  "8181f5470baa50b63fa0f6fddb340f0a",
		testLabelsFile:  "15d484375f8d13e6eb1aabb0c3f46965",
	},
}

// canonicalPayloadBytes is the uncompressed size of each canonical file (the same for
// MNIST and Fashion-MNIST): a 16-byte header and 60000 or 10000 images of 28×28 bytes,
// an 8-byte header and one byte per label. It bounds what a download may send.
var canonicalPayloadBytes = map[string]int64{
	trainImagesFile: 16 + 60000*28*28,
	trainLabelsFile: 8 + 60000,
	testImagesFile:  16 + 10000*28*28,
	testLabelsFile:  8 + 10000,
}

// defaultBaseURL holds the canonical mirror of each downloadable dataset.
var defaultBaseURL = map[string]string{
	"mnist":         "https://ossci-datasets.s3.amazonaws.com/mnist/",
	"fashion-mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
}
