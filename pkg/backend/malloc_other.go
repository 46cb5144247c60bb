//go:build !linux || !cgo

package backend

func tuneMalloc() bool { return false }

func trimMalloc() {}

func boundMalloc() bool { return false }
