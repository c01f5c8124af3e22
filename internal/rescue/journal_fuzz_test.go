package rescue

import "testing"

// FuzzParseJournal feeds the journal reader arbitrary bytes: it must return
// records or an error naming the line, never panic.
func FuzzParseJournal(f *testing.F) {
	f.Add([]byte(`{"run":"a","step":"begin"}` + "\n" + `{"run":"a","step":"deploy","status":"start","files":[{"Path":"/x","SHA256":"00"}],"components":["etcd"]}` + "\n"))
	f.Add([]byte(`{"run":"a","step":"end","result":"ok"}` + "\n" + `{"run":"b","st`))
	f.Add([]byte("\n\n{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := parseJournal("journal", data)
		if err == nil {
			summarise(recs)
		}
	})
}
