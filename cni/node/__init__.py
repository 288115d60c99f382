"""The node runtime: the daemon the CNI shim talks to, its server, watch cache, metrics and health probes, the
node install, the config guard, the hot-plug loop and the two shims. It runs the plugin core (cni.execute,
cni.attach) and is the only part of cni/ that is a long-running process."""
