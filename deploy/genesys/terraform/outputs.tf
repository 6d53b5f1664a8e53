# What trunkguard's config needs, and the config itself: `terraform output -raw trunkguard_config`.

output "datatable_id" {
  description = "platform.datatable_id"
  value       = genesyscloud_architect_datatable.active_carrier.id
}

output "datatable_row" {
  description = "platform.datatable_row: the key of the row trunkguard writes"
  value       = genesyscloud_architect_datatable_row.active.key_value
}

output "site_id" {
  description = "platform.sites"
  value       = var.site_id
}

output "outbound_route_ids" {
  description = "platform.outbound_routes: the route ids (route_id, not the resource id, which joins site and route)"
  value       = [genesyscloud_telephony_providers_edges_site_outbound_route.carriers.route_id]
}

output "flow_id" {
  description = "The routing-matrix flow"
  value       = genesyscloud_flow.routing_matrix.id
}

output "ivr_id" {
  description = "The IVR (call route) mapping the DIDs to the flow"
  value       = genesyscloud_architect_ivr.routing_matrix.id
}

output "trunkguard_config" {
  description = "The keys of trunkguard.yaml this module decides; merge them into the config (trunks, health and the rest stay yours)"
  value       = <<-EOT
    # From deploy/genesys/terraform (terraform output -raw trunkguard_config).
    carriers:
      primary:
        trunk_group_id: "${var.primary_trunk_base_id}"
      secondary:
        trunk_group_id: "${var.secondary_trunk_base_id}"
    platform:
      kind: genesys
      region: "${var.region}"
      sites: ["${var.site_id}"]
      outbound_routes: ["${genesyscloud_telephony_providers_edges_site_outbound_route.carriers.route_id}"]
      datatable_id: "${genesyscloud_architect_datatable.active_carrier.id}"
      datatable_row: "${genesyscloud_architect_datatable_row.active.key_value}"
  EOT
}
