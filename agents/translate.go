package agents

import (
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"

	"tuplebroker/jsdl"
)

// What backends share when they translate a job: the user jobs run as and
// file system references. Their errors are *Rejection, as Admit's.

// User is the broker process's user, which the local, Slurm and Grid Engine
// backends run (or submit) every job as.
type User struct {
	// Name is the user name, "" if unknown.
	Name string
	// UID is the numeric user id.
	UID string
	// Home is the home directory: the user database's, else $HOME, else "/".
	Home string
	// GIDs are the primary, effective and supplementary group ids.
	GIDs []string
	// LookupGroup resolves a group name to its id; nil means the system's
	// group database (os/user).
	LookupGroup func(name string) (gid string, err error)
}

// CurrentUser returns the user this process runs as.
func CurrentUser() User {
	u := User{UID: strconv.Itoa(os.Getuid())}
	if cu, err := user.Current(); err == nil {
		u.Name, u.Home = cu.Username, cu.HomeDir
	}
	if u.Home == "" {
		u.Home = os.Getenv("HOME")
	}
	if u.Home == "" {
		u.Home = "/"
	}
	u.GIDs = append(u.GIDs, strconv.Itoa(os.Getgid()), strconv.Itoa(os.Getegid()))
	if gs, err := os.Getgroups(); err == nil {
		for _, g := range gs {
			u.GIDs = append(u.GIDs, strconv.Itoa(g))
		}
	}
	return u
}

// Check rejects a job that asks to run as another user (by name or uid) or
// in a group (by name or gid) u is not a member of; "" asks for nothing.
func (u User) Check(userName, groupName string) error {
	if userName != "" && userName != u.Name && userName != u.UID {
		return &Rejection{Element: "UserName", Reason: fmt.Sprintf("job asks to run as user %q; this backend runs jobs only as %q", userName, u.Name)}
	}
	if groupName == "" {
		return nil
	}
	gid := groupName
	if _, err := strconv.Atoi(groupName); err != nil {
		lookup := u.LookupGroup
		if lookup == nil {
			lookup = func(name string) (string, error) {
				g, err := user.LookupGroup(name)
				if err != nil {
					return "", err
				}
				return g.Gid, nil
			}
		}
		if gid, err = lookup(groupName); err != nil {
			return &Rejection{Element: "GroupName", Reason: fmt.Sprintf("job asks for group %q, which is unknown here", groupName)}
		}
	}
	if slices.Contains(u.GIDs, gid) {
		return nil
	}
	return &Rejection{Element: "GroupName", Reason: fmt.Sprintf("job asks for group %q; this backend's user %q is not a member", groupName, u.Name)}
}

// OnFileSystem resolves the value of the element what (e.g. "Executable",
// "Argument[2]") against the file system it names (see
// jsdl.Resources.OnFileSystem). A reference to an undeclared file system,
// or a NUL byte in the value or the result, rejects the job.
func OnFileSystem(res *jsdl.Resources, name, value, what string) (string, error) {
	p, err := res.OnFileSystem(name, value)
	if err != nil {
		return "", &Rejection{Element: what, Reason: err.Error()}
	}
	if strings.IndexByte(p, 0) >= 0 || strings.IndexByte(value, 0) >= 0 {
		return "", &Rejection{Element: what, Reason: "contains a NUL byte"}
	}
	return p, nil
}
