-- Argo CD health check for teams.operator.dev/TeamsAppInstallation (teams-operator).
-- It reads the same fields as kstatus, in the same order, so Argo CD and Flux agree (docs/gitops.md):
-- observedGeneration behind generation: Progressing; the first of Reconciling=True (Progressing) or
-- Stalled=True (Degraded); then Ready=True: Healthy; anything else: Progressing. Suspended is never
-- used: a sync wave waits on it as on Progressing.
-- Installing, upgrading, uninstalling and retrying are Reconciling: Progressing.
-- Base library only (Argo CD does not open the string library for health checks).
local hs = {}
local generation = obj.metadata.generation
local observed = nil
if obj.status ~= nil then
  observed = obj.status.observedGeneration
end
if generation ~= nil and observed ~= nil and observed ~= generation then
  hs.status = "Progressing"
  hs.message = "Waiting for teams-operator to observe generation " .. generation
  return hs
end
if obj.status == nil or obj.status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for teams-operator to report status"
  return hs
end
local function describe(c)
  local text = c.reason or ""
  if c.message ~= nil and c.message ~= "" then
    text = text .. ": " .. c.message
  end
  return text
end
local ready = nil
for _, c in ipairs(obj.status.conditions) do
  if c.type == "Reconciling" and c.status == "True" then
    hs.status = "Progressing"
    hs.message = describe(c)
    return hs
  end
  if c.type == "Stalled" and c.status == "True" then
    hs.status = "Degraded"
    hs.message = describe(c)
    return hs
  end
  if c.type == "Ready" then
    ready = c
  end
end
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or ""
  return hs
end
hs.status = "Progressing"
if ready ~= nil then
  hs.message = describe(ready)
else
  hs.message = "Waiting for teams-operator to report status"
end
return hs
