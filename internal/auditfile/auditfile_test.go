package auditfile

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSealAndParse(t *testing.T) {
	enc, _ := json.Marshal(map[string]any{"seq": 0})
	_, _, err := SealLine(enc)
	require.Error(t, err, "a record must end with an empty hash")
	line, leaf, err := SealLine([]byte(`{"seq":0,"kind":"decision","prev":"","hash":""}`))
	require.NoError(t, err)
	f, err := ParseRecordLine(line)
	require.NoError(t, err)
	require.Equal(t, leaf, f.Leaf)
	require.Equal(t, uint64(0), f.Seq)
	line[10] ^= 1
	_, err = ParseRecordLine(line)
	require.Error(t, err)
}

// FuzzParseRecordLine: arbitrary lines never panic the reader, and a line
// that parses has a hash that matches its bytes.
func FuzzParseRecordLine(f *testing.F) {
	line, _, _ := SealLine([]byte(`{"seq":3,"kind":"decision","prev":"ab","hash":""}`))
	for _, s := range []string{string(line), `{"seq":`, `{"checkpoint":"x"}`, `{"seq":1,"prev":"","hash":"` + string(make([]byte, 64)) + `"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fields, err := ParseRecordLine(b)
		if err == nil {
			require.Len(t, fields.Hash, 64)
		}
		_, _ = ParseCheckpointLine(b)
	})
}
