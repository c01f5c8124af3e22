package fleet

import "testing"

// The gateway's answers as etcd v3.6 writes them (uint64 as strings).
const (
	memberListJSON = `{"header":{"cluster_id":"1","member_id":"2","raft_term":"3"},"members":[{"ID":"10","name":"cp1","peerURLs":["https://10.77.0.11:2380"],"clientURLs":["https://10.77.0.11:2379"]},{"ID":"255","name":"cp2","peerURLs":["https://10.77.0.12:2380"],"isLearner":true}]}`
	statusJSON     = `{"header":{"cluster_id":"1","member_id":"10","revision":"5","raft_term":"3"},"version":"3.6.16","dbSize":"20480","leader":"255","raftIndex":"42","raftTerm":"3","raftAppliedIndex":"42"}`
)

func TestParseTheGatewaysJSON(t *testing.T) {
	ms, err := ParseMemberList([]byte(memberListJSON))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].ID != "a" || ms[1].ID != "ff" || !ms[1].IsLearner || ms[0].ClientURLs[0] != "https://10.77.0.11:2379" {
		t.Fatalf("%+v", ms)
	}
	st, err := ParseStatus([]byte(statusJSON))
	if err != nil {
		t.Fatal(err)
	}
	if st.ID != "a" || st.Leader != "ff" || st.RaftTerm != 3 || st.RaftIndex != 42 {
		t.Fatalf("%+v", st)
	}
	for _, bad := range []string{`{"members":[{"ID":"-1"}]}`, `[`, `{"members":[{"ID":true}]}`} {
		if _, err := ParseMemberList([]byte(bad)); err == nil {
			t.Errorf("%s: parsed", bad)
		}
	}
	if _, err := ParseStatus([]byte(`{"leader":"1"}`)); err == nil {
		t.Error("a status without its member ID parsed")
	}
}

func FuzzParseEtcdJSON(f *testing.F) {
	f.Add([]byte(memberListJSON))
	f.Add([]byte(statusJSON))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseMemberList(data)
		_, _ = ParseStatus(data)
	})
}
