#!/bin/bash
# devstack plugin for gpuvirt-nova: the Nova driver, scheduler plugins and
# GPU layout for NVIDIA vGPU/MIG.
#
#   [[local|localrc]]
#   enable_plugin gpuvirt-nova https://opendev.org/x/gpuvirt-nova
#   GPUVIRT_SIMULATE=2xA100-PCIE-40GB:mig   # optional: simulated GPUs
#
# Phases: stack install (package), stack post-config (nova.conf of compute
# and scheduler, nova-compute started as gpuvirt-nova-compute, the layout
# applied before nova-compute starts), stack extra (Placement, flavors,
# boot and monitor units), unstack (units off), clean (units, state
# removed). Nothing is written into Nova's source tree.

GPUVIRT_DRIVER=gpuvirt.GpuvirtLibvirtDriver
GPUVIRT_FILTERS=VGPUUserLimitFilter,VGPUFairShareFilter,VGPUPlacementFilter,VGPUGeometryFilter
GPUVIRT_ALL_FILTERS=gpuvirt_nova.scheduler.filters.all_filters
GPUVIRT_WEIGHER=gpuvirt_nova.scheduler.weighers.GpuPackingWeigher
GPUVIRT_UNIT=gpuvirt-nova-layout.service
GPUVIRT_MONITOR_UNIT=gpuvirt-nova-monitor.service
# devstack runs nova-compute as this systemd unit (run_process n-cpu).
GPUVIRT_NCPU_UNIT=devstack@n-cpu.service
GPUVIRT_SYSTEMD_DIR=${GPUVIRT_SYSTEMD_DIR:-/etc/systemd/system}
GPUVIRT_SUDOERS_DIR=${GPUVIRT_SUDOERS_DIR:-/etc/sudoers.d}
# The layout file the boot unit waits for when GPUVIRT_LAYOUT_FILE is empty
# (the [gpuvirt_layout] file default).
GPUVIRT_DEFAULT_LAYOUT_FILE=/etc/gpuvirt-nova/layout.yaml

# Where setup_develop put the gpuvirt-nova command.
function gpuvirt_bin {
    echo "${GPUVIRT_BIN_DIR:-$(get_python_exec_prefix)}/gpuvirt-nova"
}

# gpuvirt_list_append LIST NAMES: the comma list LIST with each of the
# comma-separated NAMES appended unless already there (order kept, spaces
# dropped), so that running post-config twice adds nothing.
function gpuvirt_list_append {
    local list=${1// /}
    local item
    local IFS=,
    for item in ${2// /}; do
        if [[ ",$list," != *",$item,"* ]]; then
            list=${list:+$list,}$item
        fi
    done
    echo "$list"
}

# Nova's default of a [filter_scheduler] list option, for when devstack
# left it unset: appending to an empty value would drop Nova's own.
function gpuvirt_nova_default {
    $PYTHON -c 'import sys; import nova.conf
print(",".join(getattr(nova.conf.CONF.filter_scheduler, sys.argv[1])))' "$1"
}

# gpuvirt_iniset_if CONF SECTION OPTION VALUE: set only a non-empty value,
# so an unset devstack variable leaves the option's default.
function gpuvirt_iniset_if {
    if [[ -n "$4" ]]; then
        iniset "$1" "$2" "$3" "$4"
    fi
}

function install_gpuvirt_nova {
    setup_develop $GPUVIRT_NOVA_DIR
}

# Nova imports compute_driver only from under nova.virt.: start
# nova-compute as gpuvirt-nova-compute (nova-compute with the
# nova.virt.gpuvirt alias, same arguments) through a drop-in of the unit
# devstack writes when it starts n-cpu, so Nova's tree stays untouched.
function install_gpuvirt_nova_compute_dropin {
    local dropin=$GPUVIRT_SYSTEMD_DIR/$GPUVIRT_NCPU_UNIT.d
    local bin
    bin=$(dirname "$(gpuvirt_bin)")/gpuvirt-nova-compute
    sudo install -d "$dropin"
    cat <<EOF | sudo tee "$dropin/gpuvirt-nova.conf" >/dev/null
# Written by the gpuvirt-nova devstack plugin.
[Service]
ExecStart=
ExecStart=$bin --config-file $NOVA_CPU_CONF
EOF
}

# Options both nova-compute and the gpuvirt-nova command read.
#
# NOTE: devstack builds $NOVA_CPU_CONF by copying $NOVA_CONF when it starts
# n-cpu, after this phase, so the compute's options go into $NOVA_CONF (as
# other virt driver plugins do); local.conf [[post-config|$NOVA_CPU_CONF]]
# still overrides them.
function configure_gpuvirt_nova_common {
    local conf=$NOVA_CONF
    iniset $conf gpuvirt state_dir $GPUVIRT_STATE_DIR
    gpuvirt_iniset_if $conf gpuvirt simulate "$GPUVIRT_SIMULATE"
    gpuvirt_iniset_if $conf gpuvirt_layout default_vgpu_types \
        "$GPUVIRT_DEFAULT_VGPU_TYPES"
    gpuvirt_iniset_if $conf gpuvirt_layout file "$GPUVIRT_LAYOUT_FILE"
    sudo install -d -o $STACK_USER $GPUVIRT_STATE_DIR
}

# The shipped sudoers rule, for this stack's user and privsep-helper: it
# lets nova-compute start the two privsep daemons (and nothing else).
function install_gpuvirt_nova_sudoers {
    local rule
    rule=$(mktemp)
    sed -e "s|^Defaults:nova |Defaults:$STACK_USER |" \
        -e "s|^nova ALL = (root) NOPASSWD: /usr/local/bin/privsep-helper |$STACK_USER ALL = (root) NOPASSWD: $(get_python_exec_prefix)/privsep-helper |" \
        $GPUVIRT_NOVA_DIR/etc/sudoers.d/gpuvirt-nova > $rule
    if command -v visudo >/dev/null; then
        visudo -cf $rule >/dev/null
    fi
    sudo install -m 0440 $rule $GPUVIRT_SUDOERS_DIR/gpuvirt-nova
    rm -f $rule
}

function configure_gpuvirt_nova_compute {
    local conf=$NOVA_CONF
    iniset $conf DEFAULT compute_driver $GPUVIRT_DRIVER
    iniset $conf DEFAULT resume_guests_state_on_host_boot True
    # Upstream vGPU support conflicts with the driver (it refuses to start).
    inidelete $conf devices enabled_mdev_types
}

# Add our filters and weigher to the scheduler's, keeping what is there.
function configure_gpuvirt_nova_scheduler {
    local conf=$NOVA_CONF
    local value

    # available_filters is a multi-valued option: one line per entry.
    value=$(iniget_multiline $conf filter_scheduler available_filters)
    if [[ -z "$value" ]]; then
        iniset_multiline $conf filter_scheduler available_filters \
            nova.scheduler.filters.all_filters $GPUVIRT_ALL_FILTERS
    elif [[ " $value " != *" $GPUVIRT_ALL_FILTERS "* ]]; then
        iniadd $conf filter_scheduler available_filters $GPUVIRT_ALL_FILTERS
    fi

    # enabled_filters and weight_classes are comma lists: a second line
    # would replace the first, so extend the one value.
    value=$(iniget $conf filter_scheduler enabled_filters)
    value=${value:-$(gpuvirt_nova_default enabled_filters)}
    iniset $conf filter_scheduler enabled_filters \
        "$(gpuvirt_list_append "$value" $GPUVIRT_FILTERS)"
    value=$(iniget $conf filter_scheduler weight_classes)
    value=${value:-nova.scheduler.weights.all_weighers}
    iniset $conf filter_scheduler weight_classes \
        "$(gpuvirt_list_append "$value" $GPUVIRT_WEIGHER)"

    gpuvirt_iniset_if $conf gpuvirt_scheduler max_jobs_per_user \
        "$GPUVIRT_MAX_JOBS_PER_USER"
    gpuvirt_iniset_if $conf gpuvirt_scheduler weigher_policy \
        "$GPUVIRT_WEIGHER_POLICY"
}

function configure_gpuvirt_nova {
    configure_gpuvirt_nova_common
    if is_service_enabled n-cpu; then
        install_gpuvirt_nova_compute_dropin
        install_gpuvirt_nova_sudoers
        configure_gpuvirt_nova_compute
        # Carve the GPUs before nova-compute starts and reports them.
        if [[ "$GPUVIRT_APPLY_LAYOUT" == "True" ]]; then
            apply_gpuvirt_nova_layout
        fi
    fi
    if is_service_enabled n-sch && \
            [[ "$GPUVIRT_ENABLE_SCHEDULER_PLUGINS" == "True" ]]; then
        configure_gpuvirt_nova_scheduler
    fi
}

# Run the gpuvirt-nova command on $NOVA_CONF. Real GPUs need root for
# their privileged writes; a simulated host belongs to $STACK_USER (and
# nova-compute), so it must not be written as root.
function gpuvirt_cli {
    if [[ -n "$GPUVIRT_SIMULATE" ]]; then
        $(gpuvirt_bin) --config-file $NOVA_CONF "$@"
    else
        sudo "$(gpuvirt_bin)" --config-file $NOVA_CONF "$@"
    fi
}

function apply_gpuvirt_nova_layout {
    if [[ -z "$GPUVIRT_LAYOUT_FILE" ]]; then
        echo "gpuvirt-nova: GPUVIRT_LAYOUT_FILE is empty, no layout to apply"
        return 0
    fi
    # --boot: nothing runs on the GPUs yet on a fresh stack.
    gpuvirt_cli layout apply "$GPUVIRT_LAYOUT_FILE" --boot -f value
}

function sync_gpuvirt_nova_placement {
    local args=""
    if [[ -n "$GPUVIRT_LAYOUT_FILE" ]]; then
        args="--layout $GPUVIRT_LAYOUT_FILE"
    fi
    gpuvirt_cli placement sync --os-cloud $GPUVIRT_OS_CLOUD $args -f value
}

# GPUVIRT_FLAVORS: "all", or a comma list of vGPU types.
function create_gpuvirt_nova_flavors {
    local args=""
    local vgpu_type
    if [[ "$GPUVIRT_FLAVORS" != "all" ]]; then
        for vgpu_type in ${GPUVIRT_FLAVORS//,/ }; do
            args="$args --type $vgpu_type"
        done
    fi
    $(gpuvirt_bin) --config-file $NOVA_CONF flavor sync \
        --os-cloud $GPUVIRT_OS_CLOUD $args -f value
}

# The shipped unit, plus a drop-in that points it at this devstack's
# command, nova.conf and layout file.
function install_gpuvirt_nova_unit {
    local layout=${GPUVIRT_LAYOUT_FILE:-$GPUVIRT_DEFAULT_LAYOUT_FILE}
    local dropin=$GPUVIRT_SYSTEMD_DIR/$GPUVIRT_UNIT.d
    sudo install -m 0644 $GPUVIRT_NOVA_DIR/etc/systemd/$GPUVIRT_UNIT \
        $GPUVIRT_SYSTEMD_DIR/$GPUVIRT_UNIT
    sudo install -d $dropin
    cat <<EOF | sudo tee $dropin/devstack.conf >/dev/null
# Written by the gpuvirt-nova devstack plugin.
[Unit]
ConditionPathExists=
ConditionPathExists=$layout

[Service]
ExecStart=
ExecStart=$(gpuvirt_bin) --config-file $NOVA_CONF layout apply --boot -f value
EOF
    sudo systemctl daemon-reload
    sudo systemctl enable $GPUVIRT_UNIT
}

# The shipped monitor unit, run as the stack user on this devstack's
# command and nova.conf.
function install_gpuvirt_nova_monitor_unit {
    local dropin=$GPUVIRT_SYSTEMD_DIR/$GPUVIRT_MONITOR_UNIT.d
    sudo install -m 0644 \
        $GPUVIRT_NOVA_DIR/etc/systemd/$GPUVIRT_MONITOR_UNIT \
        $GPUVIRT_SYSTEMD_DIR/$GPUVIRT_MONITOR_UNIT
    sudo install -d $dropin
    cat <<EOF | sudo tee $dropin/devstack.conf >/dev/null
# Written by the gpuvirt-nova devstack plugin.
[Service]
ExecStart=
ExecStart=$(gpuvirt_bin) --config-file $NOVA_CONF monitor
User=$STACK_USER
EOF
    sudo systemctl daemon-reload
    sudo systemctl enable --now $GPUVIRT_MONITOR_UNIT
}

function remove_gpuvirt_nova_unit {
    local unit
    for unit in $GPUVIRT_UNIT $GPUVIRT_MONITOR_UNIT; do
        if [[ -e $GPUVIRT_SYSTEMD_DIR/$unit ]]; then
            sudo systemctl disable --now $unit || true
            sudo rm -rf $GPUVIRT_SYSTEMD_DIR/$unit \
                $GPUVIRT_SYSTEMD_DIR/$unit.d
        fi
    done
    sudo rm -f $GPUVIRT_SYSTEMD_DIR/$GPUVIRT_NCPU_UNIT.d/gpuvirt-nova.conf
    sudo rmdir $GPUVIRT_SYSTEMD_DIR/$GPUVIRT_NCPU_UNIT.d 2>/dev/null || true
    sudo systemctl daemon-reload
}

function extra_gpuvirt_nova {
    if is_service_enabled n-cpu; then
        if [[ "$GPUVIRT_PLACEMENT_SYNC" == "True" ]]; then
            sync_gpuvirt_nova_placement
        fi
        if [[ "$GPUVIRT_BOOT_UNIT" == "True" ]]; then
            if [[ -n "$GPUVIRT_SIMULATE" ]]; then
                echo "gpuvirt-nova: simulated GPUs, no boot unit installed"
            else
                install_gpuvirt_nova_unit
            fi
        fi
        if [[ "$GPUVIRT_MONITOR" == "True" ]]; then
            if [[ -n "$GPUVIRT_SIMULATE" ]]; then
                echo "gpuvirt-nova: simulated GPUs, no monitor unit installed"
            else
                install_gpuvirt_nova_monitor_unit
            fi
        fi
    fi
    if [[ -n "$GPUVIRT_FLAVORS" ]]; then
        create_gpuvirt_nova_flavors
    fi
}

function cleanup_gpuvirt_nova {
    remove_gpuvirt_nova_unit
    # Left by older versions of this plugin, which wrote a shim there.
    sudo rm -f $NOVA_DIR/nova/virt/gpuvirt.py
    sudo rm -f $GPUVIRT_SUDOERS_DIR/gpuvirt-nova
    sudo rm -rf $GPUVIRT_STATE_DIR
}

if is_service_enabled gpuvirt-nova; then
    if [[ "$1" == "stack" && "$2" == "install" ]]; then
        echo_summary "Installing gpuvirt-nova"
        install_gpuvirt_nova
    elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
        echo_summary "Configuring gpuvirt-nova"
        configure_gpuvirt_nova
    elif [[ "$1" == "stack" && "$2" == "extra" ]]; then
        echo_summary "gpuvirt-nova: Placement, flavors and units"
        extra_gpuvirt_nova
    elif [[ "$1" == "unstack" ]]; then
        # A reboot after unstack leaves the GPUs as the driver left them.
        if [[ -e $GPUVIRT_SYSTEMD_DIR/$GPUVIRT_UNIT ]]; then
            sudo systemctl disable $GPUVIRT_UNIT || true
        fi
        if [[ -e $GPUVIRT_SYSTEMD_DIR/$GPUVIRT_MONITOR_UNIT ]]; then
            sudo systemctl disable --now $GPUVIRT_MONITOR_UNIT || true
        fi
    elif [[ "$1" == "clean" ]]; then
        cleanup_gpuvirt_nova
    fi
fi
