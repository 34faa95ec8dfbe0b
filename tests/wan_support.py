"""Wan 2.1 VACE built from tiny random configs of the real diffusers and transformers classes, saved
in the layout of Wan-AI/Wan2.1-VACE-1.3B-diffusers (what `model init wan-vace --from` reads), and the
real configs (the public config.json values) for the meta-device checks."""
import torch

# The public configs (Wan-AI/Wan2.1-VACE-*-diffusers transformer/config.json; the VAE and the UMT5-XXL
# encoder are shared by both sizes).
REAL_TRANSFORMERS = {
    "1.3B": dict(num_attention_heads=12, attention_head_dim=128, ffn_dim=8960, num_layers=30,
                 vace_layers=list(range(0, 30, 2))),
    "14B": dict(num_attention_heads=40, attention_head_dim=128, ffn_dim=13824, num_layers=40,
                vace_layers=list(range(0, 40, 5))),
}
REAL_TRANSFORMER_SHARED = dict(in_channels=16, out_channels=16, text_dim=4096, freq_dim=256, patch_size=(1, 2, 2),
                               qk_norm="rms_norm_across_heads", cross_attn_norm=True, eps=1e-6, vace_in_channels=96)
REAL_UMT5 = dict(vocab_size=256384, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
                 relative_attention_num_buckets=32, feed_forward_proj="gated-gelu")


def tiny_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["<pad>", "</s>", "<unk>", "a", "beach", "at", "dusk", "street", "night"]
    tokenizer = Tokenizer(models.WordLevel({word: index for index, word in enumerate(words)}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def save_tiny_wan_vace(directory, seed=0):
    """A random tiny Wan VACE pipeline saved as a diffusers folder (about 1 MB)."""
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanVACEPipeline, WanVACETransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(seed)
    text_encoder = UMT5EncoderModel(UMT5Config(vocab_size=16, d_model=16, d_kv=4, d_ff=32, num_layers=1, num_heads=2,
                                               relative_attention_num_buckets=8, feed_forward_proj="gated-gelu"))
    transformer = WanVACETransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=8, in_channels=4, out_channels=4,
        text_dim=16, freq_dim=16, ffn_dim=16, num_layers=2, vace_layers=[0], rope_max_seq_len=32,
        vace_in_channels=4 * 2 + 8 * 8)  # inactive and reactive latents, and the mask folded 8x8
    vae = AutoencoderKLWan(base_dim=8, z_dim=4, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True], latents_mean=[0.0] * 4, latents_std=[1.0] * 4)
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                        num_train_timesteps=1000, flow_shift=3.0)
    pipe = WanVACEPipeline(tokenizer=tiny_tokenizer(), text_encoder=text_encoder, vae=vae, scheduler=scheduler,
                           transformer=transformer)
    pipe.save_pretrained(str(directory))
    return directory
