package exporter

import (
	"sort"
	"sync"
)

// SourceID names a source in x509_source_up and x509_source_errors_total.
type SourceID struct {
	Kind string // "node", "file", "endpoint", "kube-secret", "kube-configmap"
	Name string
}

// Store holds the current Objects of every source. Sources write to it
// (Replace for a whole scan, Upsert and Delete for watched objects); the
// Collector reads it at scrape time. It is safe for concurrent use.
type Store struct {
	mu      sync.RWMutex
	sources map[SourceID]*sourceState
}

type sourceState struct {
	up      bool
	objects map[string]Object
	errors  map[string]float64 // by reason; only ever increases
}

// NewStore returns an empty Store.
func NewStore() *Store { return &Store{sources: map[SourceID]*sourceState{}} }

func (s *Store) state(id SourceID) *sourceState {
	st := s.sources[id]
	if st == nil {
		st = &sourceState{objects: map[string]Object{}, errors: map[string]float64{}}
		s.sources[id] = st
	}
	return st
}

// Register declares a source, down until SetUp says otherwise, so that
// x509_source_up reports it from the first scrape.
func (s *Store) Register(id SourceID) {
	s.mu.Lock()
	s.state(id)
	s.mu.Unlock()
}

// SetUp sets a source's x509_source_up.
func (s *Store) SetUp(id SourceID, up bool) {
	s.mu.Lock()
	s.state(id).up = up
	s.mu.Unlock()
}

// Replace sets every object of a source at once: objects it no longer has
// disappear, so their series do too.
func (s *Store) Replace(id SourceID, objects map[string]Object) {
	for k, o := range objects {
		if !o.prepared() {
			o.prepare()
			objects[k] = o
		}
	}
	s.mu.Lock()
	s.state(id).objects = objects
	s.mu.Unlock()
}

// Upsert sets one object of a source.
func (s *Store) Upsert(id SourceID, key string, o Object) {
	o.prepare()
	s.mu.Lock()
	s.state(id).objects[key] = o
	s.mu.Unlock()
}

// Delete removes one object of a source, and with it its series.
func (s *Store) Delete(id SourceID, key string) {
	s.mu.Lock()
	delete(s.state(id).objects, key)
	s.mu.Unlock()
}

// AddError counts an error of a source in x509_source_errors_total.
func (s *Store) AddError(id SourceID, reason string) {
	s.mu.Lock()
	s.state(id).errors[reason]++
	s.mu.Unlock()
}

// Len is the number of objects a source holds.
func (s *Store) Len(id SourceID) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if st := s.sources[id]; st != nil {
		return len(st.objects)
	}
	return 0
}

// sourceView is a copy of one source's state, taken under the read lock so
// that emitting metrics never holds it.
type sourceView struct {
	id      SourceID
	up      bool
	errors  map[string]float64
	objects []Object
}

// view copies the store, sources and objects in a stable order (object keys
// sorted) so that deduplication keeps the same series from scrape to scrape.
func (s *Store) view() []sourceView {
	s.mu.RLock()
	out := make([]sourceView, 0, len(s.sources))
	keys := make([][]string, 0, len(s.sources))
	for id, st := range s.sources {
		v := sourceView{id: id, up: st.up, errors: make(map[string]float64, len(st.errors)), objects: make([]Object, 0, len(st.objects))}
		for r, n := range st.errors {
			v.errors[r] = n
		}
		ks := make([]string, 0, len(st.objects))
		for k := range st.objects {
			ks = append(ks, k)
		}
		out = append(out, v)
		keys = append(keys, ks)
	}
	for i := range out {
		sort.Strings(keys[i])
		objs := s.sources[out[i].id].objects
		for _, k := range keys[i] {
			out[i].objects = append(out[i].objects, objs[k])
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].id.Kind != out[j].id.Kind {
			return out[i].id.Kind < out[j].id.Kind
		}
		return out[i].id.Name < out[j].id.Name
	})
	return out
}
