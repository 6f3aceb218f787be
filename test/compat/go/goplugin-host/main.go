// goplugin-host is a hashicorp/go-plugin host (plugin.NewClient) that launches a plugin and
// reports each step as a JSON line on stdout ({"step":"ping","ok":true}); it exits 0 only when
// every step succeeded (1 at the first failing step, 2 on bad usage). It proves that plugins
// built with plugprom's TypeScript SDK work under real go-plugin. go-plugin's own debug log
// (which includes the plugin's stderr) goes to stderr.
//
// Usage: goplugin-host -cmd <plugin> [flags] [-- plugin args]
//
// Steps: handshake (with protocol and negotiatedVersion), ping, dispense, greet (message),
// kill (exited, forced, exitCode, signal).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	wrapperspb "github.com/golang/protobuf/ptypes/wrappers"
	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

type greeterClient struct{ conn *grpc.ClientConn }

func (g *greeterClient) Greet(name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out := new(wrapperspb.StringValue)
	if err := g.conn.Invoke(ctx, "/greeter.v1.GreeterService/Greet", &wrapperspb.StringValue{Value: name}, out); err != nil {
		return "", err
	}
	return out.GetValue(), nil
}

type greeterPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (greeterPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return fmt.Errorf("host side only")
}

func (greeterPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (interface{}, error) {
	return &greeterClient{conn: conn}, nil
}

// killWatch sees go-plugin's own log lines and notes the one Kill writes when the plugin did
// not exit within its grace period and had to be killed.
type killWatch struct {
	mu     sync.Mutex
	forced bool
}

func (w *killWatch) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("plugin failed to exit gracefully")) {
		w.mu.Lock()
		w.forced = true
		w.mu.Unlock()
	}
	return len(p), nil
}

func (w *killWatch) Forced() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.forced
}

// cleanup runs before a failing step exits, so the plugin is never left behind.
var cleanup = func() {}

func report(step string, err error, extra map[string]interface{}) {
	line := map[string]interface{}{"step": step, "ok": err == nil}
	if err != nil {
		line["error"] = err.Error()
	}
	for k, v := range extra {
		line[k] = v
	}
	b, _ := json.Marshal(line)
	fmt.Println(string(b))
	if err != nil {
		cleanup()
		os.Exit(1)
	}
}

func parseVersions(list string) ([]int, error) {
	var out []int
	for _, s := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad -versions %q: want a comma-separated list of positive integers", list)
		}
		out = append(out, n)
	}
	return out, nil
}

func main() {
	cmdPath := flag.String("cmd", "", "plugin executable to launch (required)")
	autoMTLS := flag.Bool("auto-mtls", false, "negotiate go-plugin AutoMTLS (a client certificate in PLUGIN_CLIENT_CERT, the server's in the handshake)")
	cookieKey := flag.String("cookie-key", "PLUGPROM_PLUGIN", "magic cookie key")
	cookieValue := flag.String("cookie-value", "plugprom", "magic cookie value")
	versionList := flag.String("versions", "1", "app protocol versions offered, comma-separated; more than one uses VersionedPlugins")
	name := flag.String("name", "compat", "name sent in the Greet call")
	startTimeout := flag.Duration("start-timeout", 20*time.Second, "how long go-plugin waits for the handshake")
	flag.Parse()
	if *cmdPath == "" {
		fmt.Fprintln(os.Stderr, "usage: goplugin-host -cmd <plugin> [-auto-mtls] [-versions 1] [-cookie-key K -cookie-value V] [-name N] [-- plugin args]")
		os.Exit(2)
	}
	versions, err := parseVersions(*versionList)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}

	watch := &killWatch{}
	cmd := exec.Command(*cmdPath, flag.Args()...)
	config := &plugin.ClientConfig{
		HandshakeConfig:  plugin.HandshakeConfig{ProtocolVersion: uint(versions[0]), MagicCookieKey: *cookieKey, MagicCookieValue: *cookieValue},
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         *autoMTLS,
		StartTimeout:     *startTimeout,
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "host", Output: io.MultiWriter(os.Stderr, watch), Level: hclog.Debug}),
	}
	if len(versions) == 1 {
		config.Plugins = plugin.PluginSet{"greeter": greeterPlugin{}}
	} else {
		config.VersionedPlugins = map[int]plugin.PluginSet{}
		for _, v := range versions {
			config.VersionedPlugins[v] = plugin.PluginSet{"greeter": greeterPlugin{}}
		}
	}
	client := plugin.NewClient(config)
	cleanup = client.Kill

	// Launch to first successful Ping: the span plugprom's Start covers (spawn, handshake,
	// health), which the lifecycle benchmark compares.
	launched := time.Now()
	rpc, err := client.Client()
	report("handshake", err, map[string]interface{}{"protocol": string(client.Protocol()), "negotiatedVersion": client.NegotiatedVersion(), "autoMTLS": *autoMTLS})
	pingErr := rpc.Ping()
	report("ping", pingErr, map[string]interface{}{"msSinceLaunch": float64(time.Since(launched).Microseconds()) / 1000})
	raw, err := rpc.Dispense("greeter")
	report("dispense", err, nil)
	msg, err := raw.(*greeterClient).Greet(*name)
	report("greet", err, map[string]interface{}{"message": msg})

	// Kill closes the gRPC client (GRPCController.Shutdown), waits up to 2s for the process to
	// exit and only then kills it; a graceful kill is one where that last resort was not needed.
	started := time.Now()
	client.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for !client.Exited() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	kill := map[string]interface{}{"exited": client.Exited(), "forced": watch.Forced(), "ms": time.Since(started).Milliseconds()}
	var killErr error
	switch {
	case !client.Exited():
		killErr = fmt.Errorf("plugin process still running 10s after Kill")
	case watch.Forced():
		killErr = fmt.Errorf("plugin did not exit after GRPCController.Shutdown; go-plugin had to kill it")
	}
	if client.Exited() && cmd.ProcessState != nil {
		kill["exitCode"] = cmd.ProcessState.ExitCode()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			kill["signal"] = ws.Signal().String()
		}
	}
	report("kill", killErr, kill)
}
