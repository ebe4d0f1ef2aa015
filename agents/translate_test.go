package agents_test

import (
	"errors"
	"strings"
	"testing"

	"tuplebroker"
	"tuplebroker/agents"
	"tuplebroker/jsdl"
)

func TestUserCheck(t *testing.T) {
	u := agents.User{Name: "alice", UID: "1000", GIDs: []string{"1000", "27"},
		LookupGroup: func(name string) (string, error) {
			switch name {
			case "sudo":
				return "27", nil
			case "wheel":
				return "10", nil
			}
			return "", errors.New("no such group")
		}}
	for _, tc := range []struct {
		user, group string
		element     string // "" admitted
		words       []string
	}{
		{},
		{user: "alice"},
		{user: "1000"},
		{group: "sudo"},
		{group: "27"},
		{user: "alice", group: "1000"},
		{user: "bob", element: "UserName", words: []string{`"bob"`, `"alice"`}},
		{user: "0", element: "UserName", words: []string{`"0"`}},
		{group: "wheel", element: "GroupName", words: []string{`"wheel"`, "not a member"}},
		{group: "10", element: "GroupName", words: []string{`"10"`}},
		{group: "nogroup-xyzzy", element: "GroupName", words: []string{"unknown here"}},
	} {
		err := u.Check(tc.user, tc.group)
		if tc.element == "" {
			if err != nil {
				t.Errorf("Check(%q, %q): %v", tc.user, tc.group, err)
			}
			continue
		}
		var r *agents.Rejection
		if !errors.Is(err, tuplebroker.ErrRejected) || !errors.As(err, &r) || r.Element != tc.element {
			t.Errorf("Check(%q, %q) = %v, want a rejection of %s", tc.user, tc.group, err, tc.element)
			continue
		}
		for _, w := range tc.words {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Check(%q, %q): %q lacks %q", tc.user, tc.group, err, w)
			}
		}
	}
	if me := agents.CurrentUser(); me.UID == "" || me.Home == "" || len(me.GIDs) < 2 || me.Check(me.UID, me.GIDs[0]) != nil {
		t.Errorf("CurrentUser() = %+v", me)
	}
}

func TestOnFileSystem(t *testing.T) {
	res := &jsdl.Resources{FileSystem: []jsdl.FileSystem{{Name: "HOME", MountPoint: "/home/a"}, {Name: "BAD", MountPoint: "/x\x00"}, {Name: "NONE"}}}
	for _, tc := range []struct {
		res         *jsdl.Resources
		name, value string
		want        string // "" rejected
		words       []string
	}{
		{res: nil, value: "rel/p", want: "rel/p"},
		{res: res, name: "HOME", value: "bin/x", want: "/home/a/bin/x"},
		{res: res, name: "HOME", value: "/abs", want: "/abs"},
		{res: res, name: "HOME", value: "", want: "/home/a"},
		{res: nil, name: "HOME", value: "x", words: []string{`"HOME"`, "does not declare"}},
		{res: res, name: "APPS", value: "x", words: []string{`"APPS"`}},
		{res: res, name: "NONE", value: "x", words: []string{"MountPoint"}},
		{res: res, value: "a\x00b", words: []string{"NUL"}},
		{res: res, name: "BAD", value: "y", words: []string{"NUL"}},
	} {
		got, err := agents.OnFileSystem(tc.res, tc.name, tc.value, "Executable")
		if tc.want != "" {
			if err != nil || got != tc.want {
				t.Errorf("OnFileSystem(%q, %q) = %q, %v; want %q", tc.name, tc.value, got, err, tc.want)
			}
			continue
		}
		var r *agents.Rejection
		if !errors.As(err, &r) || r.Element != "Executable" || !errors.Is(err, tuplebroker.ErrRejected) {
			t.Errorf("OnFileSystem(%q, %q) = %q, %v; want a rejection of Executable", tc.name, tc.value, got, err)
			continue
		}
		for _, w := range tc.words {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("OnFileSystem(%q, %q): %q lacks %q", tc.name, tc.value, err, w)
			}
		}
	}
}
