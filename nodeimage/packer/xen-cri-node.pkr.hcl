# nodeimage/packer/xen-cri-node.pkr.hcl — a GCE image of an xen-cri node:
# Debian 12, Xen 4.17 booting dom0 by default, containerd with the xen-cri
# runtime, vgpu-proxy --xen, the pod-VM kernel and initramfs.  Provisioned by
# nodeimage/provision.sh, the same script the local QEMU build runs.
#
#   nodeimage/build-guest.sh && nodeimage/make-payload.sh      # build/nodeimage/xen-cri-payload.tar.gz
#   packer init nodeimage/packer && packer build -var project_id=MY_PROJECT nodeimage/packer
#
# Not run in this repository's CI (no cloud access); the same provisioning
# is exercised by the QEMU node (test/xen).  The T4's driver is not part of
# the image: install NVIDIA's 580 driver in dom0 (vgpu-proxy loads
# libcuda.so.1 from /etc/default/vgpu-proxy's --libcuda).  PV pod VMs need no
# nested virtualisation, so plain n1 instances work.
packer {
  required_plugins {
    googlecompute = {
      source  = "github.com/hashicorp/googlecompute"
      version = ">= 1.1.0"
    }
  }
}

variable "project_id" {
  type = string
}

variable "zone" {
  type    = string
  default = "us-central1-a"
}

variable "payload" {
  type        = string
  default     = "../../build/nodeimage/xen-cri-payload.tar.gz"
  description = "nodeimage/make-payload.sh's output"
}

source "googlecompute" "xen-cri-node" {
  project_id          = var.project_id
  zone                = var.zone
  source_image_family = "debian-12"
  source_image_project_id = ["debian-cloud"]
  machine_type        = "n1-standard-4"
  accelerator_type    = "projects/${var.project_id}/zones/${var.zone}/acceleratorTypes/nvidia-tesla-t4"
  accelerator_count   = 1
  on_host_maintenance = "TERMINATE"
  disk_size           = 50
  image_name          = "xen-cri-node-{{timestamp}}"
  image_family        = "xen-cri-node"
  ssh_username        = "packer"
}

build {
  sources = ["source.googlecompute.xen-cri-node"]

  provisioner "file" {
    source      = var.payload
    destination = "/tmp/xen-cri-payload.tar.gz"
  }

  provisioner "file" {
    source      = "../provision.sh"
    destination = "/tmp/provision.sh"
  }

  provisioner "shell" {
    inline = ["sudo bash /tmp/provision.sh --target gce --payload /tmp/xen-cri-payload.tar.gz"]
  }
}
