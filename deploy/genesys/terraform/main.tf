# trunkguard's routing matrix on Genesys Cloud (CX as Code). What trunkguard changes at a swap is
# under `lifecycle { ignore_changes }`, so `terraform plan` never proposes to undo a failover.

locals {
  tone_file = "${path.module}/audio/trunkguard-sweep-tone-1004hz.wav"
}

# The active-carrier flag: a key column and the two columns trunkguard writes.
resource "genesyscloud_architect_datatable" "active_carrier" {
  name        = var.datatable_name
  description = "Written by trunkguard: which carrier inbound calls are on (activeCarrier primary|secondary)"
  properties {
    name  = "key"
    type  = "string"
    title = "Row"
  }
  properties {
    name  = "activeCarrier"
    type  = "string"
    title = "Active carrier (primary or secondary)"
  }
  properties {
    name  = "trunkBaseId"
    type  = "string"
    title = "Active carrier's trunk base id"
  }
}

# The row trunkguard owns. Terraform creates it on the primary and then leaves its value alone: a
# plan must not revert a swap trunkguard made.
resource "genesyscloud_architect_datatable_row" "active" {
  datatable_id = genesyscloud_architect_datatable.active_carrier.id
  key_value    = var.row_key
  properties_json = jsonencode({
    "activeCarrier" = "primary"
    "trunkBaseId"   = var.primary_trunk_base_id
  })
  lifecycle {
    ignore_changes = [properties_json]
  }
}

# The DID-sweep tone (Architect cannot synthesise a tone): a user prompt from the shipped WAV.
resource "genesyscloud_architect_user_prompt" "sweep_tone" {
  name        = var.sweep_tone_prompt
  description = "trunkguard DID sweep: 1004 Hz, 3 s, played to trunkguard's own test calls"
  resources {
    language          = "en-us"
    text              = "1004 Hz test tone"
    filename          = local.tone_file
    file_content_hash = filesha256(local.tone_file)
  }
}

# The flow, published from the Archy YAML with its substitutions (no archy CLI needed).
resource "genesyscloud_flow" "routing_matrix" {
  filepath = "${path.module}/../flows/trunkguard-routing-matrix.yaml"
  substitutions = {
    flow_name               = var.flow_name
    division                = var.division
    datatable_name          = genesyscloud_architect_datatable.active_carrier.name
    row_key                 = genesyscloud_architect_datatable_row.active.key_value
    lookup_failure_carrier  = var.lookup_failure_carrier
    sweep_caller_number     = var.sweep_caller_number
    sweep_tone_prompt       = genesyscloud_architect_user_prompt.sweep_tone.name
    standard_queue          = var.standard_queue
    failover_queue          = var.failover_queue
    overflow_queue          = var.overflow_queue
    standard_menu_prompt    = var.standard_menu_prompt
    failover_notice         = var.failover_notice
    overflow_notice         = var.overflow_notice
    transfer_failure_notice = var.transfer_failure_notice
  }
}

# BYOC numbers in DID pools (only the ranges given; existing pools are left alone).
resource "genesyscloud_telephony_providers_edges_did_pool" "dids" {
  for_each           = { for pool in var.did_pools : "${pool.start}-${pool.end}" => pool }
  start_phone_number = each.value.start
  end_phone_number   = each.value.end
  description        = "trunkguard routing matrix DIDs"
}

# The IVR (call route): every DID to the flow, at all hours. Both carriers deliver the same DIDs.
resource "genesyscloud_architect_ivr" "routing_matrix" {
  name               = var.ivr_name
  description        = "trunkguard routing matrix: the DIDs both carriers deliver"
  dnis               = var.dnis
  open_hours_flow_id = genesyscloud_flow.routing_matrix.id
  depends_on         = [genesyscloud_telephony_providers_edges_did_pool.dids]
}

# Outbound calls: both carriers' trunk bases in order, the primary first. trunkguard reorders
# them at a swap, so Terraform sets the order once and then ignores it.
resource "genesyscloud_telephony_providers_edges_site_outbound_route" "carriers" {
  site_id                 = var.site_id
  name                    = var.outbound_route_name
  description             = "trunkguard: the active carrier's trunk base first (reordered at a swap)"
  classification_types    = var.outbound_classification_types
  external_trunk_base_ids = [var.primary_trunk_base_id, var.secondary_trunk_base_id]
  distribution            = "SEQUENTIAL"
  enabled                 = true
  lifecycle {
    ignore_changes = [external_trunk_base_ids]
  }
}
