package v1alpha1

// LocalObjectReference names an object in the same namespace. There is no namespace
// field on purpose: references never cross namespaces.
type LocalObjectReference struct {
	// name of the referenced object in the same namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`
}

// DeletionPolicy says what happens in Teams when the Kubernetes object is deleted.
// +kubebuilder:validation:Enum=Delete;Orphan
type DeletionPolicy string

const (
	// DeletionPolicyDelete removes the external object (uninstalls the app).
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyOrphan leaves the external object as it is.
	DeletionPolicyOrphan DeletionPolicy = "Orphan"
)
