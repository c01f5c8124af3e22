package cfssl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// MaxJSONSize caps the JSON files we parse; real ones are a few hundred bytes.
const MaxJSONSize = 1 << 20

// decodeStrict unmarshals data into v and turns encoding/json's errors into ones
// that name the file, the line and column, and the field.
func decode(name string, data []byte, v any) error {
	if len(data) > MaxJSONSize {
		return fmt.Errorf("%s: %d bytes, larger than the %d-byte limit", name, len(data), MaxJSONSize)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return fmt.Errorf("%s: empty file, expected a JSON object", name)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			line, col := position(data, syn.Offset)
			return fmt.Errorf("%s:%d:%d: malformed JSON: %w", name, line, col, syn)
		case errors.As(err, &typ):
			line, col := position(data, typ.Offset)
			return fmt.Errorf("%s:%d:%d: field %q: expected %s, found a JSON %s", name, line, col, typ.Field, typ.Type, typ.Value)
		default:
			return fmt.Errorf("%s: malformed JSON: %w", name, err)
		}
	}
	if dec.More() {
		return fmt.Errorf("%s: unexpected data after the JSON object", name)
	}
	return nil
}

func position(data []byte, offset int64) (line, col int) {
	line, col = 1, 1
	for i := int64(0); i < offset && i < int64(len(data)); i++ {
		if data[i] == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}
