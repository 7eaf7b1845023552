"""GLSL sources (OpenGL 3.3 core) and the vertex attribute locations they share with the Python side.

``SURFACE_*`` draws every lit mesh (tissue, rigid anatomy, instruments) with a headlight at the scope tip, as a
laparoscope's light guide is: Lambert + Blinn–Phong for the wet sheen. Back faces (the inside of an organ seen
through a cut) are shaded darker and redder so that cuts read as openings. ``burn`` darkens a vertex toward char;
``glow`` adds light of its own (an energised instrument tip). Attributes without an array read OpenGL's default
current value, 0, so tissue needs no glow array and rigid meshes need neither.

``OVERLAY_*`` composites one HUD layer, a texture with straight alpha and its first row at the top, over its
rectangle of the view.
"""

ATTRIBUTE_POSITION = 0
ATTRIBUTE_NORMAL = 1
ATTRIBUTE_COLOUR = 2
ATTRIBUTE_BURN = 3
ATTRIBUTE_GLOW = 4

SURFACE_VERTEX = f"""
#version 330 core
layout(location = {ATTRIBUTE_POSITION}) in vec3 position;
layout(location = {ATTRIBUTE_NORMAL}) in vec3 normal;
layout(location = {ATTRIBUTE_COLOUR}) in vec3 colour;
layout(location = {ATTRIBUTE_BURN}) in float burn;
layout(location = {ATTRIBUTE_GLOW}) in float glow;

uniform mat4 view;
uniform mat4 projection;

out vec3 eye_position;
out vec3 eye_normal;
out vec3 base_colour;
out float burn_amount;
out float glow_amount;

void main() {{
    vec4 p = view * vec4(position, 1.0);
    eye_position = p.xyz;
    eye_normal = mat3(view) * normal;  // the view matrix is a rotation plus a translation
    base_colour = colour;
    burn_amount = clamp(burn, 0.0, 1.0);
    glow_amount = clamp(glow, 0.0, 1.0);
    gl_Position = projection * p;
}}
"""

SURFACE_FRAGMENT = """
#version 330 core
in vec3 eye_position;
in vec3 eye_normal;
in vec3 base_colour;
in float burn_amount;
in float glow_amount;

uniform vec3 charred_colour;
uniform vec3 glow_colour;

out vec4 fragment;

const float AMBIENT = 0.18;
const float SHININESS = 40.0;
const float SPECULAR = 0.25;

void main() {
    vec3 to_light = normalize(-eye_position);  // the light sits at the lens
    vec3 n = normalize(eye_normal);
    vec3 albedo = mix(base_colour, charred_colour, 0.85 * burn_amount);
    if (!gl_FrontFacing) {
        n = -n;
        albedo *= vec3(0.55, 0.35, 0.35);
    }
    float diffuse = max(dot(n, to_light), 0.0);
    float specular = SPECULAR * (1.0 - burn_amount) * pow(max(dot(n, to_light), 0.0), SHININESS);
    vec3 lit = albedo * (AMBIENT + (1.0 - AMBIENT) * diffuse) + vec3(specular);
    fragment = vec4(mix(lit, glow_colour, 0.8 * glow_amount), 1.0);
}
"""

OVERLAY_VERTEX = """
#version 330 core
uniform vec4 rectangle;  // the layer's left, top, width, height in pixels, y down from the top of the viewport
uniform vec2 viewport;   // width, height in pixels
out vec2 texture_coordinate;

void main() {
    // A quad drawn as a 4-vertex triangle strip; no vertex buffer needed.
    vec2 corner = vec2(gl_VertexID & 1, (gl_VertexID >> 1) & 1);
    texture_coordinate = corner;  // the image's first row is its top edge
    vec2 pixel = rectangle.xy + corner * rectangle.zw;
    gl_Position = vec4(pixel.x / viewport.x * 2.0 - 1.0, 1.0 - pixel.y / viewport.y * 2.0, 0.0, 1.0);
}
"""

OVERLAY_FRAGMENT = """
#version 330 core
in vec2 texture_coordinate;
uniform sampler2D image;
out vec4 fragment;

void main() {
    fragment = texture(image, texture_coordinate);
}
"""
