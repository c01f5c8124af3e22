package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// maxResponse caps what is read from an etcd member or a load balancer.
const maxResponse = 4 << 20

// Member is one etcd member as a member list names it.
type Member struct {
	ID         string   `json:"id"` // hexadecimal, as etcdctl prints it
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
	IsLearner  bool     `json:"isLearner,omitempty"`
}

// MemberStatus is what one member says of itself.
type MemberStatus struct {
	ID        string   `json:"id"`
	Leader    string   `json:"leader"` // the leader's ID; "0": it knows none
	RaftTerm  uint64   `json:"raftTerm"`
	RaftIndex uint64   `json:"raftIndex"`
	Version   string   `json:"version"`
	Errors    []string `json:"errors,omitempty"`
}

// EtcdClient talks to etcd members' client URLs through the grpc-gateway.
type EtcdClient struct {
	HTTP *http.Client // with the client certificate and the etcd CA
}

// uint64 fields arrive as JSON strings from the gateway (proto3 JSON).
type flexUint string

func (f *flexUint) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if _, err := strconv.ParseUint(s, 10, 64); err != nil && s != "" {
		return fmt.Errorf("not an unsigned integer: %s", b)
	}
	*f = flexUint(s)
	return nil
}

func (f flexUint) hex() string {
	v, _ := strconv.ParseUint(string(f), 10, 64)
	return strconv.FormatUint(v, 16)
}

func (f flexUint) uint() uint64 {
	v, _ := strconv.ParseUint(string(f), 10, 64)
	return v
}

func (c *EtcdClient) post(ctx context.Context, endpoint, path string) ([]byte, error) {
	return c.postBody(ctx, endpoint, path, "{}")
}

func (c *EtcdClient) postBody(ctx context.Context, endpoint, path, body string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(endpoint, "/")+path, bytes.NewReader([]byte(body)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return c.do(req)
}

func (c *EtcdClient) do(req *http.Request) ([]byte, error) {
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", req.URL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s: %s", req.URL, resp.Status, firstLine(body))
	}
	return body, nil
}

// MemberList is the membership as the member at endpoint knows it.
func (c *EtcdClient) MemberList(ctx context.Context, endpoint string) ([]Member, error) {
	body, err := c.post(ctx, endpoint, "/v3/cluster/member/list")
	if err != nil {
		return nil, err
	}
	ms, err := ParseMemberList(body)
	if err != nil {
		return nil, fmt.Errorf("%s member list: %w", endpoint, err)
	}
	return ms, nil
}

// ParseMemberList reads the gateway's member list response.
func ParseMemberList(body []byte) ([]Member, error) {
	var v struct {
		Members []struct {
			ID         flexUint `json:"ID"`
			Name       string   `json:"name"`
			PeerURLs   []string `json:"peerURLs"`
			ClientURLs []string `json:"clientURLs"`
			IsLearner  bool     `json:"isLearner"`
		} `json:"members"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("not etcd's JSON: %w", err)
	}
	out := make([]Member, 0, len(v.Members))
	for _, m := range v.Members {
		out = append(out, Member{ID: m.ID.hex(), Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, IsLearner: m.IsLearner})
	}
	return out, nil
}

// Status is the member at endpoint's own view: its ID, leader and raft term.
func (c *EtcdClient) Status(ctx context.Context, endpoint string) (*MemberStatus, error) {
	body, err := c.post(ctx, endpoint, "/v3/maintenance/status")
	if err != nil {
		return nil, err
	}
	st, err := ParseStatus(body)
	if err != nil {
		return nil, fmt.Errorf("%s status: %w", endpoint, err)
	}
	return st, nil
}

// ParseStatus reads the gateway's maintenance status response.
func ParseStatus(body []byte) (*MemberStatus, error) {
	var v struct {
		Header struct {
			MemberID flexUint `json:"member_id"`
		} `json:"header"`
		Version   string   `json:"version"`
		Leader    flexUint `json:"leader"`
		RaftIndex flexUint `json:"raftIndex"`
		RaftTerm  flexUint `json:"raftTerm"`
		Errors    []string `json:"errors"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("not etcd's JSON: %w", err)
	}
	if v.Header.MemberID == "" {
		return nil, fmt.Errorf("header.member_id: missing")
	}
	return &MemberStatus{ID: v.Header.MemberID.hex(), Leader: v.Leader.hex(), RaftTerm: v.RaftTerm.uint(),
		RaftIndex: v.RaftIndex.uint(), Version: v.Version, Errors: v.Errors}, nil
}

// Health is the member's GET /health: nil when it says "true".
func (c *EtcdClient) Health(ctx context.Context, endpoint string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(endpoint, "/")+"/health", nil)
	if err != nil {
		return err
	}
	body, err := c.do(req)
	if err != nil {
		return err
	}
	var v struct {
		Health string `json:"health"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("%s: not etcd's health JSON: %s", req.URL, firstLine(body))
	}
	if v.Health != "true" {
		return fmt.Errorf("health %q: %s", v.Health, v.Reason)
	}
	return nil
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
