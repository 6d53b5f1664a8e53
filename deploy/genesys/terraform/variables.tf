# The ids of what this module does not create (the carriers' trunk bases, the site, the queues)
# and the words callers hear. trunkguard's config needs the outputs (outputs.tf).

variable "primary_trunk_base_id" {
  type        = string
  description = "The primary carrier's external trunk base settings id (trunkguard's carriers.primary.trunk_group_id)."
}

variable "secondary_trunk_base_id" {
  type        = string
  description = "The secondary carrier's external trunk base settings id (trunkguard's carriers.secondary.trunk_group_id)."
}

variable "site_id" {
  type        = string
  description = "The site whose outbound route carries both carriers' trunk bases."
}

variable "region" {
  type        = string
  default     = "us_east_1"
  description = "The org's Genesys Cloud region, for the trunkguard config snippet (platform.region)."
}

variable "division" {
  type        = string
  default     = "Home"
  description = "The division the flow is published in."
}

variable "flow_name" {
  type        = string
  default     = "trunkguard routing matrix"
  description = "The inbound call flow's name. Changing it publishes a new flow with a new id."
}

variable "datatable_name" {
  type        = string
  default     = "CarrierFailover"
  description = "The Architect data table holding the active-carrier row."
}

variable "row_key" {
  type        = string
  default     = "active"
  description = "The key of the row trunkguard writes (platform.datatable_row)."
}

variable "lookup_failure_carrier" {
  type        = string
  default     = "secondary"
  description = "The carrier the flow assumes when the row is missing or the lookup fails: secondary takes the failover path (no integrations), which works whichever carrier delivered the call."
  validation {
    condition     = contains(["primary", "secondary"], var.lookup_failure_carrier)
    error_message = "The lookup_failure_carrier must be primary or secondary."
  }
}

variable "outbound_route_name" {
  type        = string
  default     = "trunkguard carriers"
  description = "The site outbound route holding both carriers' trunk bases, primary first."
}

variable "outbound_classification_types" {
  type        = list(string)
  default     = ["National", "International"]
  description = "The number classifications the outbound route serves."
}

variable "ivr_name" {
  type        = string
  default     = "trunkguard routing matrix"
  description = "The Architect IVR (call route) mapping the DIDs to the flow."
}

variable "dnis" {
  type        = list(string)
  description = "The DIDs (E.164) that reach the flow: every number both carriers deliver."
  validation {
    condition     = length(var.dnis) > 0 && alltrue([for n in var.dnis : can(regex("^\\+[1-9][0-9]{6,14}$", n))])
    error_message = "The dnis must be E.164 numbers such as +13175550000."
  }
}

variable "did_pools" {
  type = list(object({
    start = string
    end   = string
  }))
  default     = []
  description = "DID ranges to create as DID pools (BYOC numbers must be in a pool before an IVR takes them). Empty: the pools exist already."
}

variable "standard_queue" {
  type        = string
  description = "The queue (by name) of the standard path's menu."
}

variable "failover_queue" {
  type        = string
  description = "The queue (by name) the failover path sends every call to."
}

variable "overflow_queue" {
  type        = string
  description = "The queue (by name) for a carrier value the flow does not know."
}

variable "sweep_caller_number" {
  type        = string
  description = "The E.164 calling number trunkguard's DID sweep presents: calls from it hear the tone and are disconnected. Never a number a customer can call from."
  validation {
    condition     = can(regex("^\\+[1-9][0-9]{6,14}$", var.sweep_caller_number))
    error_message = "The sweep_caller_number must be an E.164 number such as +13175559999."
  }
}

variable "sweep_tone_prompt" {
  type        = string
  default     = "trunkguard_sweep_tone_1004hz"
  description = "The user prompt holding the DID-sweep tone (letters, digits and underscores)."
  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9_]*$", var.sweep_tone_prompt))
    error_message = "The sweep_tone_prompt must be letters, digits and underscores, starting with a letter."
  }
}

variable "standard_menu_prompt" {
  type        = string
  default     = "Press 1 or say agent to speak with us. Press 9 to hang up."
  description = "The standard path's menu."
}

variable "failover_notice" {
  type        = string
  default     = "Thank you for calling. Please hold for the next available agent."
  description = "What the failover path says before the queue: short, no menu."
}

variable "overflow_notice" {
  type        = string
  default     = "Thank you for calling. Please hold."
  description = "What the overflow path says before its queue."
}

variable "transfer_failure_notice" {
  type        = string
  default     = "Sorry, we cannot take your call now. Please call again later."
  description = "Said when a transfer to a queue fails, and by the flow's error handling."
}
