package data

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

func TestReadImages(t *testing.T) {
	good := idxBytes([]int{2, 1, 2}, []byte{0, 255, 51, 102})
	tests := []struct {
		name    string
		in      []byte
		wantErr error
	}{
		{"good", good, nil},
		{"empty", nil, ErrTruncated},
		{"short header", good[:10], ErrTruncated},
		{"short data", good[:len(good)-1], ErrTruncated},
		{"trailing bytes", append(slices.Clone(good), 7), ErrBadFormat},
		{"labels magic", idxBytes([]int{4}, []byte{0, 1, 2, 3}), ErrBadFormat},
		{"float type", append([]byte{0, 0, 0x0D, 3}, good[4:]...), ErrBadFormat},
		{"zero dimension", idxBytes([]int{0, 1, 2}, nil), ErrBadFormat},
		{"huge dimensions", idxBytes([]int{1 << 20, 28, 28}, nil), ErrBadFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			im, err := readImages(bytes.NewReader(tt.in))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if im.n != 2 || im.h != 1 || im.w != 2 {
				t.Errorf("shape %dx%dx%d, want 2x1x2", im.n, im.h, im.w)
			}
			if want := []float32{0, 1, 0.2, 0.4}; !slices.Equal(im.x, want) {
				t.Errorf("pixels %v, want %v", im.x, want)
			}
		})
	}
}

func TestReadLabels(t *testing.T) {
	good := idxBytes([]int{3}, []byte{7, 0, 9})
	tests := []struct {
		name    string
		in      []byte
		wantErr error
	}{
		{"good", good, nil},
		{"short data", good[:len(good)-1], ErrTruncated},
		{"images magic", idxBytes([]int{1, 1, 1}, []byte{0}), ErrBadFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			labels, err := readLabels(bytes.NewReader(tt.in))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && !slices.Equal(labels, []uint8{7, 0, 9}) {
				t.Errorf("labels %v, want [7 0 9]", labels)
			}
		})
	}
}

func TestByteToUnit(t *testing.T) {
	for i, v := range byteToUnit {
		if v != float32(i)/255 {
			t.Fatalf("byteToUnit[%d] = %v, want %v", i, v, float32(i)/255)
		}
	}
	if byteToUnit[0] != 0 || byteToUnit[255] != 1 {
		t.Errorf("range [%v, %v], want [0, 1]", byteToUnit[0], byteToUnit[255])
	}
}
