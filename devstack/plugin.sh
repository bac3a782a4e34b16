#!/bin/bash
# devstack plugin for gpuvirt-nova: the Nova driver for NVIDIA vGPU/MIG.
#
#   [[local|localrc]]
#   enable_plugin gpuvirt-nova https://opendev.org/x/gpuvirt-nova
#   GPUVIRT_SIMULATE=2xA100-PCIE-40GB:mig   # optional: simulated GPUs

function install_gpuvirt_nova {
    setup_develop $GPUVIRT_NOVA_DIR
}

# Nova imports compute_driver only from under nova.virt.: add the one-line
# shim module to the nova tree devstack installed.
function install_gpuvirt_nova_shim {
    local shim=$NOVA_DIR/nova/virt/gpuvirt.py
    $PYTHON -c 'from gpuvirt_nova.virt import shim; print(shim.SHIM_SOURCE, end="")' \
        | sudo tee $shim >/dev/null
}

function configure_gpuvirt_nova {
    local conf=$NOVA_CPU_CONF
    iniset $conf DEFAULT compute_driver gpuvirt.GpuvirtLibvirtDriver
    iniset $conf DEFAULT resume_guests_state_on_host_boot True
    iniset $conf gpuvirt state_dir $GPUVIRT_STATE_DIR
    if [[ -n "$GPUVIRT_SIMULATE" ]]; then
        iniset $conf gpuvirt simulate "$GPUVIRT_SIMULATE"
    fi
    if [[ -n "$GPUVIRT_DEFAULT_VGPU_TYPES" ]]; then
        iniset $conf gpuvirt_placement default_vgpu_types \
            "$GPUVIRT_DEFAULT_VGPU_TYPES"
    fi
    # Upstream vGPU support conflicts with the driver (it refuses to start).
    inidelete $conf devices enabled_mdev_types
    sudo install -d -o $STACK_USER $GPUVIRT_STATE_DIR
}

if is_service_enabled gpuvirt-nova; then
    if [[ "$1" == "stack" && "$2" == "install" ]]; then
        echo_summary "Installing gpuvirt-nova"
        install_gpuvirt_nova
    elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
        echo_summary "Configuring gpuvirt-nova"
        install_gpuvirt_nova_shim
        configure_gpuvirt_nova
    elif [[ "$1" == "unstack" ]]; then
        :
    elif [[ "$1" == "clean" ]]; then
        sudo rm -f $NOVA_DIR/nova/virt/gpuvirt.py
        sudo rm -rf $GPUVIRT_STATE_DIR
    fi
fi
