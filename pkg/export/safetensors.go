package export

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
)

// Tensor is one named float32 tensor, row-major.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// WriteSafetensors writes tensors to path in the safetensors format (written here by
// hand: no Go library is served, and the format is small): an 8-byte little-endian
// header length N, N bytes of JSON {name: {dtype, shape, data_offsets}, "__metadata__":
// {string: string}} padded with spaces to a multiple of 8, then the tensors' bytes
// (little-endian F32), in the header's order, back to back.
func WriteSafetensors(path string, tensors []Tensor, metadata map[string]string) error {
	header := map[string]any{}
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	sorted := append([]Tensor(nil), tensors...)
	sort.Slice(sorted, func(a, b int) bool { return sorted[a].Name < sorted[b].Name })
	off := 0
	for _, t := range sorted {
		n := 1
		for _, d := range t.Shape {
			n *= d
		}
		if n != len(t.Data) {
			return fmt.Errorf("export: tensor %s of shape %v has %d values", t.Name, t.Shape, len(t.Data))
		}
		if _, dup := header[t.Name]; dup || t.Name == "__metadata__" || t.Name == "" {
			return fmt.Errorf("export: tensor name %q repeated or reserved", t.Name)
		}
		shape := append([]int{}, t.Shape...)
		header[t.Name] = map[string]any{"dtype": "F32", "shape": shape, "data_offsets": []int{off, off + 4*n}}
		off += 4 * n
	}
	js, err := json.Marshal(header)
	if err != nil {
		return err
	}
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(len(js)))
	w.Write(b[:])
	w.Write(js)
	for _, t := range sorted {
		for _, v := range t.Data {
			binary.LittleEndian.PutUint32(b[:4], math.Float32bits(v))
			w.Write(b[:4])
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReadSafetensors reads a file WriteSafetensors wrote (F32 tensors only).
func ReadSafetensors(path string) (map[string]Tensor, map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	if len(raw) < 8 {
		return nil, nil, fmt.Errorf("export: %s: %d bytes, shorter than a safetensors header", path, len(raw))
	}
	n := binary.LittleEndian.Uint64(raw[:8])
	if n > uint64(len(raw)-8) {
		return nil, nil, fmt.Errorf("export: %s: header of %d bytes in a file of %d", path, n, len(raw))
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+n], &header); err != nil {
		return nil, nil, fmt.Errorf("export: %s: header: %w", path, err)
	}
	body := raw[8+n:]
	out := map[string]Tensor{}
	var meta map[string]string
	for name, v := range header {
		if name == "__metadata__" {
			if err := json.Unmarshal(v, &meta); err != nil {
				return nil, nil, fmt.Errorf("export: %s: __metadata__: %w", path, err)
			}
			continue
		}
		var e struct {
			Dtype   string `json:"dtype"`
			Shape   []int  `json:"shape"`
			Offsets [2]int `json:"data_offsets"`
		}
		if err := json.Unmarshal(v, &e); err != nil {
			return nil, nil, fmt.Errorf("export: %s: tensor %s: %w", path, name, err)
		}
		if e.Dtype != "F32" || e.Offsets[0] < 0 || e.Offsets[1] > len(body) || e.Offsets[0] > e.Offsets[1] || (e.Offsets[1]-e.Offsets[0])%4 != 0 {
			return nil, nil, fmt.Errorf("export: %s: tensor %s: dtype %s, offsets %v in %d bytes", path, name, e.Dtype, e.Offsets, len(body))
		}
		data := make([]float32, (e.Offsets[1]-e.Offsets[0])/4)
		for i := range data {
			data[i] = math.Float32frombits(binary.LittleEndian.Uint32(body[e.Offsets[0]+4*i:]))
		}
		out[name] = Tensor{Name: name, Shape: e.Shape, Data: data}
	}
	return out, meta, nil
}
