import PortcullisCore

/// Prometheus text format, written by hand: a handful of families does not justify a
/// metrics framework in the daemon.
enum MetricsRenderer {
    static func render(state: DesiredState, samples: KernelSamples) -> String {
        var vmByInterface: [String: VM] = [:]
        for vm in state.vms { vmByInterface[vm.interface.name] = vm }
        var out = ""
        out += "# HELP portcullis_vms VMs registered on this host.\n# TYPE portcullis_vms gauge\n"
        out += "portcullis_vms{site=\"\(state.policy.site)\"} \(state.vms.count)\n"
        out += "# HELP portcullis_exemptions_active Exemptions in force.\n# TYPE portcullis_exemptions_active gauge\n"
        out += "portcullis_exemptions_active \(state.exemptions.count)\n"
        out += "# HELP portcullis_dropped_packets_total Frames dropped by anti-spoofing, per VM and kind.\n"
        out += "# TYPE portcullis_dropped_packets_total counter\n"
        for drop in samples.drops.sorted(by: { ($0.interface, $0.kind) < ($1.interface, $1.kind) }) {
            let vm = vmByInterface[drop.interface]?.id.value ?? ""
            out += "portcullis_dropped_packets_total{vm=\"\(vm)\",interface=\"\(drop.interface)\",kind=\"\(drop.kind)\"} \(drop.packets)\n"
        }
        out += "# HELP portcullis_rejected_packets_total Packets to restricted ports refused, per VM and port.\n"
        out += "# TYPE portcullis_rejected_packets_total counter\n"
        for reject in samples.rejected.sorted(by: { ($0.interface, $0.port) < ($1.interface, $1.port) }) {
            let vm = vmByInterface[reject.interface]?.id.value ?? ""
            out += "portcullis_rejected_packets_total{vm=\"\(vm)\",interface=\"\(reject.interface)\",port=\"\(reject.port)\"} \(reject.packets)\n"
        }
        out += "# HELP portcullis_apply_total Kernel transactions by kind (diff or replace).\n# TYPE portcullis_apply_total counter\n"
        out += "# HELP portcullis_apply_seconds_sum Time spent in kernel transactions.\n# TYPE portcullis_apply_seconds_sum counter\n"
        for kind in samples.applies.keys.sorted() {
            out += "portcullis_apply_total{kind=\"\(kind)\"} \(samples.applies[kind] ?? 0)\n"
            out += "portcullis_apply_seconds_sum{kind=\"\(kind)\"} \(samples.applySeconds[kind] ?? 0)\n"
        }
        out += "# HELP portcullis_apply_failures_total Transactions the kernel refused.\n# TYPE portcullis_apply_failures_total counter\n"
        out += "portcullis_apply_failures_total \(samples.failures)\n"
        out += "# HELP portcullis_reconcile_repairs_total Times the reconciler found drift and replaced our tables.\n"
        out += "# TYPE portcullis_reconcile_repairs_total counter\n"
        out += "portcullis_reconcile_repairs_total \(samples.repairs)\n"
        out += "# HELP portcullis_replace_text_fallbacks_total Full replaces loaded as text because the set elements could not be spliced into libnftables' transaction.\n"
        out += "# TYPE portcullis_replace_text_fallbacks_total counter\n"
        out += "portcullis_replace_text_fallbacks_total \(samples.textReplaces)\n"
        return out
    }
}
