package predictor

import (
	"bytes"
	"errors"
	"testing"
)

func TestDecodeBytesTensor(t *testing.T) {
	tests := []struct {
		name    string
		raw     []byte
		n       int
		want    []string
		wantErr string
	}{
		{"empty", nil, 0, []string{}, ""},
		{"two", encodeBytesTensor([]string{"ab", "c"}), 2, []string{"ab", "c"}, ""},
		{"empty element", encodeBytesTensor([]string{"", "x", ""}), 3, []string{"", "x", ""}, ""},
		{"NUL bytes", encodeBytesTensor([]string{"\x00a\x00"}), 1, []string{"\x00a\x00"}, ""},
		{"short prefix", []byte{1, 0}, 1, nil, "length prefix cut short"},
		{"length past the end", []byte{5, 0, 0, 0, 'a'}, 1, nil, "length past the end"},
		{"huge length", []byte{0xff, 0xff, 0xff, 0xff, 'a'}, 1, nil, "length past the end"},
		{"trailing bytes", append(encodeBytesTensor([]string{"a"}), 0), 1, nil, "after its 1 elements"},
		{"fewer elements", encodeBytesTensor([]string{"a"}), 2, nil, "holds 1 elements, want 2"},
		{"more elements", encodeBytesTensor([]string{"a", "b"}), 1, nil, "after its 1 elements"},
		{"negative count", nil, -1, nil, "-1 elements"},
		{"huge count", []byte{0, 0, 0, 0}, 1 << 62, nil, "holds 1 elements"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeBytesTensor(tt.raw, tt.n)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrBadOutput) || !bytes.Contains([]byte(err.Error()), []byte(tt.wantErr)) {
					t.Fatalf("err = %v, want ErrBadOutput with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("%d elements, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if string(got[i]) != tt.want[i] {
					t.Errorf("element %d = %q, want %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// FuzzDecodeBytes: any raw contents and element count decode without
// panicking, fail only with ErrBadOutput, and when they decode, encoding the
// elements again gives raw back.
func FuzzDecodeBytes(f *testing.F) {
	f.Add(encodeBytesTensor([]string{"hello", "", "wörld"}), 3)
	f.Add([]byte{}, 0)
	f.Add([]byte{1, 0, 0}, 1)
	f.Add([]byte{0xff, 0xff, 0xff, 0x7f, 0}, 1)
	f.Add(append(encodeBytesTensor([]string{"a\x00b"}), 9), 1)
	f.Add(encodeBytesTensor([]string{"a", "b"}), 1<<40)
	f.Add(encodeBytesTensor([]string{"a", "b"}), -3)
	f.Fuzz(func(t *testing.T, raw []byte, n int) {
		elems, err := decodeBytesTensor(raw, n)
		if err != nil {
			if !errors.Is(err, ErrBadOutput) {
				t.Fatalf("error %v is not ErrBadOutput", err)
			}
			return
		}
		if len(elems) != n {
			t.Fatalf("%d elements, want %d", len(elems), n)
		}
		if again := encodeBytesTensor(elems); !bytes.Equal(again, raw) {
			t.Fatalf("re-encoded %q, want %q", again, raw)
		}
	})
}
